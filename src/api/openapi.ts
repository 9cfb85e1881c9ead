import { z } from 'zod'
import { apiRoutes, type ApiRoute } from './management.js'

/** JSON Schema 2020-12 (OpenAPI 3.1's dialect) of a zod schema, as a request would be written. */
function jsonSchema (schema: z.ZodType): Record<string, unknown> {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>
  return rest
}

const errorEnvelope = {
  type: 'object',
  required: ['result', 'success', 'errors', 'messages'],
  properties: {
    result: { type: 'null' },
    success: { const: false },
    errors: {
      type: 'array',
      items: {
        type: 'object',
        required: ['code', 'message'],
        properties: {
          code: { type: 'string', description: 'Starling error code (STARLING_ERR_*), see the README\'s errors table' },
          message: { type: 'string' },
          field: { type: 'string', description: 'The request field at fault (`body.name`, `query.number`, `ns`)' }
        }
      }
    },
    messages: { type: 'array', items: { type: 'string' } }
  }
}

function successEnvelope (result: z.ZodType | null): Record<string, unknown> {
  return {
    type: 'object',
    required: ['result', 'success', 'errors', 'messages'],
    properties: {
      result: result === null ? { type: 'null' } : jsonSchema(result),
      success: { const: true },
      errors: { type: 'array', maxItems: 0 },
      messages: { type: 'array', items: { type: 'string' } }
    }
  }
}

const errorResponse = (description: string): Record<string, unknown> => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/ErrorEnvelope' } } } })

function parameters (route: ApiRoute): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = []
  for (const [location, schema] of [['path', route.params], ['query', route.querystring]] as const) {
    if (schema === undefined) continue
    const required = new Set((jsonSchema(schema).required as string[] | undefined) ?? [])
    for (const [name, field] of Object.entries(schema.shape)) {
      const fieldSchema = jsonSchema(field as z.ZodType)
      const { description, ...rest } = fieldSchema
      out.push({
        name, in: location, required: location === 'path' || required.has(name),
        ...(typeof description === 'string' ? { description } : {}),
        schema: rest,
        // Repeated query keys (`?jti=a&jti=b`) form an array.
        ...(location === 'query' ? { style: 'form', explode: true } : {})
      })
    }
  }
  return out
}

/** The OpenAPI 3.1 document of the management API, built from the same route table and zod schemas that serve it. */
export function openApiDocument (version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {}
  for (const route of apiRoutes) {
    const path = route.url.replace(/:([A-Za-z]+)/g, '{$1}')
    paths[path] ??= {}
    const responses: Record<string, unknown> = {
      200: { description: 'Success', content: { 'application/json': { schema: successEnvelope(route.result) } } },
      400: errorResponse('Invalid input; the error names the field'),
      401: errorResponse('No bearer token'),
      403: errorResponse('Not an admin token, or no admin token configured (API disabled)')
    }
    if (route.params !== undefined) responses[404] = errorResponse('No such namespace, broker or key')
    if (route.method === 'POST' || route.method === 'DELETE') responses[409] = errorResponse('Already exists, or not empty')
    paths[path][route.method.toLowerCase()] = {
      operationId: route.operationId,
      summary: route.summary,
      tags: [route.url.includes('/brokers') ? 'brokers' : 'namespaces'],
      parameters: parameters(route),
      ...(route.body !== undefined ? { requestBody: { required: route.method !== 'DELETE' && route.operationId !== 'revokeTokens', content: { 'application/json': { schema: jsonSchema(route.body) } } } } : {}),
      responses
    }
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Starling management API',
      version,
      description: 'Namespaces, brokers, client credentials, revocations and keys. Modelled on Cloudflare Pub/Sub\'s API: every answer is `{ result, success, errors, messages }`.'
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    security: [{ adminToken: [] }],
    paths,
    components: {
      securitySchemes: { adminToken: { type: 'http', scheme: 'bearer', description: 'An admin token: STARLING_ADMIN_TOKEN, api.adminTokens or api.adminTokenFile' } },
      schemas: { ErrorEnvelope: errorEnvelope }
    }
  }
}
