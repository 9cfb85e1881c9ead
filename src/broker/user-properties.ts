/**
 * The wire order of a packet's MQTT 5 User Properties. mqtt-packet keeps User Properties in an
 * object (name → value, or values of a repeated name), which loses their order; our mqtt-packet
 * patch records the names in wire order under this registered symbol, non-enumerable, and
 * writes them back in that order [MQTT-3.3.2-18]. Serializers that drop symbols (v8 between
 * pods and in the offline queue, JSON in group streams) carry the order as a plain field.
 */
export const USER_PROPERTY_ORDER = Symbol.for('mqtt-packet.userPropertyOrder')

/** The plain field carrying the order through a serializer. */
export const USER_PROPERTY_ORDER_FIELD = 'userPropertyOrder'

/** A packet's User Properties object, if it has one (any packet shape: aedes', stored, group). */
function userPropertiesOf (packet: object): object | undefined {
  const properties = (packet as { properties?: unknown }).properties
  if (typeof properties !== 'object' || properties === null) return undefined
  const userProperties = (properties as { userProperties?: unknown }).userProperties
  return typeof userProperties === 'object' && userProperties !== null ? userProperties : undefined
}

/** The names of the packet's User Properties in wire order, when they were recorded. */
export function userPropertyOrder (packet: object): string[] | undefined {
  const userProperties = userPropertiesOf(packet) as Record<symbol, unknown> | undefined
  const order = userProperties?.[USER_PROPERTY_ORDER]
  return Array.isArray(order) ? order as string[] : undefined
}

/** Records `order` on the packet's User Properties again (after a serializer dropped it). */
export function restoreUserPropertyOrder (packet: object, order: unknown): void {
  const userProperties = userPropertiesOf(packet)
  if (!Array.isArray(order) || userProperties === undefined) return
  if (!order.every((name) => typeof name === 'string')) return
  Object.defineProperty(userProperties, USER_PROPERTY_ORDER, { value: [...order], writable: true, configurable: true })
}

/** The packet to serialize: itself, or a shallow copy with the order as a plain field. */
export function withOrderField<P extends object> (packet: P): P {
  const order = userPropertyOrder(packet)
  return order === undefined ? packet : { ...packet, [USER_PROPERTY_ORDER_FIELD]: order }
}

/** After deserializing: moves the plain order field back onto the User Properties. */
export function fromOrderField<P extends object> (packet: P): P {
  const fields = packet as P & Record<string, unknown>
  if (!Object.hasOwn(fields, USER_PROPERTY_ORDER_FIELD)) return packet
  restoreUserPropertyOrder(packet, fields[USER_PROPERTY_ORDER_FIELD])
  delete fields[USER_PROPERTY_ORDER_FIELD]
  return packet
}
