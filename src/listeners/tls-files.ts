import { createPrivateKey, X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createSecureContext, type TlsOptions } from 'node:tls'
import type { StarlingConfig } from '../config/schema.js'
import { StarlingError } from '../errors.js'

/**
 * Reads and checks the PEM files of `tls.*` once at start, so a bad path or a broken file fails
 * the start with `STARLING_ERR_TLS_FILES` naming the config field, never the file's contents.
 * Returns undefined when TLS is not configured (neither certFile nor keyFile set).
 */
export function loadTlsOptions (tls: StarlingConfig['tls']): TlsOptions | undefined {
  if (tls.certFile === '' && tls.keyFile === '') {
    if (tls.caFile !== '') throw tlsError('tls.caFile', 'set only together with tls.certFile and tls.keyFile')
    return undefined
  }
  if (tls.certFile === '') throw tlsError('tls.certFile', 'not set, but tls.keyFile is')
  if (tls.keyFile === '') throw tlsError('tls.keyFile', 'not set, but tls.certFile is')

  const cert = read('tls.certFile', tls.certFile)
  check('tls.certFile', () => new X509Certificate(cert))
  const key = read('tls.keyFile', tls.keyFile)
  check('tls.keyFile', () => createPrivateKey(key))
  const options: TlsOptions = { cert, key }
  if (tls.caFile !== '') {
    const ca = read('tls.caFile', tls.caFile)
    check('tls.caFile', () => new X509Certificate(ca))
    // Mutual TLS: ask every client for a certificate and refuse those the CA did not sign.
    Object.assign(options, { ca, requestCert: true, rejectUnauthorized: true })
  }
  check('tls.certFile and tls.keyFile', () => createSecureContext(options))
  return options
}

function tlsError (field: string, reason: string, cause?: unknown): StarlingError {
  return new StarlingError('STARLING_ERR_TLS_FILES', [field, reason], { cause })
}

function read (field: string, path: string): Buffer {
  try {
    return readFileSync(path)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'read error'
    throw tlsError(field, `cannot read ${path} (${code})`, err)
  }
}

/** Runs a parser over the material; its message names the problem, not the bytes. */
function check (field: string, parse: () => unknown): void {
  try {
    parse()
  } catch (err) {
    const reason = err instanceof Error ? err.message : 'invalid PEM'
    throw tlsError(field, `not a valid PEM file (${reason})`)
  }
}
