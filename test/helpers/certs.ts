import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'

/** Paths and contents of a throwaway PKI made with the `openssl` CLI. */
export interface TestPki {
  readonly dir: string
  readonly caFile: string
  readonly certFile: string
  readonly keyFile: string
  readonly ca: Buffer
  /** A client certificate signed by the CA, and its key. */
  readonly clientCert: Buffer
  readonly clientKey: Buffer
  /** A second, unrelated CA: clients trusting only it must fail to verify the server. */
  readonly otherCa: Buffer
  readonly otherCaKey: Buffer
  readonly otherCaCert: Buffer
}

function openssl (dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], timeout: 20000 })
}

function makeCa (dir: string, name: string): void {
  openssl(dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.pem`])
}

function makeLeaf (dir: string, ca: string, name: string, extensions: string): void {
  writeFileSync(join(dir, `${name}.ext`), extensions)
  openssl(dir, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.csr`])
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial',
    '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.pem`])
}

/** A CA, a server certificate for 127.0.0.1 / localhost, a client certificate, and a stranger CA. */
export function makeTestPki (t: TestContext | undefined): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'starling-pki-'))
  t?.after(() => rmSync(dir, { recursive: true, force: true }))
  makeCa(dir, 'ca')
  makeCa(dir, 'other-ca')
  makeLeaf(dir, 'ca', 'server', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n')
  makeLeaf(dir, 'ca', 'client', 'extendedKeyUsage=clientAuth\n')
  makeLeaf(dir, 'other-ca', 'stranger', 'extendedKeyUsage=clientAuth\n')
  const file = (name: string): Buffer => readFileSync(join(dir, name))
  return {
    dir,
    caFile: join(dir, 'ca.pem'),
    certFile: join(dir, 'server.pem'),
    keyFile: join(dir, 'server.key'),
    ca: file('ca.pem'),
    clientCert: file('client.pem'),
    clientKey: file('client.key'),
    otherCa: file('other-ca.pem'),
    otherCaCert: file('stranger.pem'),
    otherCaKey: file('stranger.key')
  }
}
