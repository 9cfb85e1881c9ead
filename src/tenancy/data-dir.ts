import { randomBytes } from 'node:crypto'
import { chmodSync, closeSync, fsyncSync, mkdirSync, openSync, renameSync, statSync, writeSync } from 'node:fs'
import { resolve } from 'node:path'
import { StarlingError } from '../errors.js'

/**
 * The embedded mode's data directory: created 0700, files 0600, each written whole to a temporary
 * file, flushed and renamed over the old one, so a crash leaves either the old or the new file.
 */

export function ensureDataDir (dir: string): string {
  const path = resolve(dir)
  try {
    mkdirSync(path, { recursive: true, mode: 0o700 })
    if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o700)
  } catch (err) {
    throw new StarlingError('STARLING_ERR_DATA_DIR', [path, (err as Error).message], { cause: err })
  }
  return path
}

export function writeFileAtomic (file: string, text: string): void {
  const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`
  try {
    const fd = openSync(temp, 'wx', 0o600)
    try {
      writeSync(fd, text)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(temp, file)
  } catch (err) {
    throw new StarlingError('STARLING_ERR_DATA_DIR', [file, (err as Error).message], { cause: err })
  }
}
