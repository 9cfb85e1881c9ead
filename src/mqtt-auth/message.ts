import { StarlingError } from '../errors.js'

/**
 * The `auth` message of auth over MQTT, as ClearBlade encodes it: three blocks, each a 2-byte
 * big-endian length then that many UTF-8 bytes — the token, the device name, the MQTT endpoint URL.
 */
export function encodeAuthMessage (token: string, deviceName: string, endpointUrl: string): Buffer {
  const blocks = [token, deviceName, endpointUrl].map((text) => Buffer.from(text, 'utf8'))
  const out = Buffer.alloc(blocks.reduce((sum, block) => sum + 2 + block.length, 0))
  let at = 0
  for (const block of blocks) {
    if (block.length > 0xffff) throw new StarlingError('STARLING_ERR_MQTT_AUTH', ['a field of the auth message is longer than 65535 bytes'])
    out.writeUInt16BE(block.length, at)
    block.copy(out, at + 2)
    at += 2 + block.length
  }
  return out
}

/** The inverse (tests, and clients written in TypeScript). */
export function decodeAuthMessage (message: Buffer): { token: string, deviceName: string, endpointUrl: string } {
  const fields: string[] = []
  let at = 0
  for (let i = 0; i < 3; i++) {
    if (at + 2 > message.length) throw new StarlingError('STARLING_ERR_MQTT_AUTH', ['auth message too short'])
    const length = message.readUInt16BE(at)
    if (at + 2 + length > message.length) throw new StarlingError('STARLING_ERR_MQTT_AUTH', ['auth message too short'])
    fields.push(message.subarray(at + 2, at + 2 + length).toString('utf8'))
    at += 2 + length
  }
  return { token: fields[0] as string, deviceName: fields[1] as string, endpointUrl: fields[2] as string }
}
