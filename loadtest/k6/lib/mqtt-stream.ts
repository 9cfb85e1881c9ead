/**
 * Streaming MQTT decoder for the k6 scripts: WebSocket frames may carry part of a packet or
 * several packets (5.0 §6.0 [MQTT-6.0.0-2]); this buffers bytes and yields whole packets.
 * Pure TypeScript on Uint8Array; no k6 or Node imports.
 */
import { decodeBody, type MqttPacket, type ProtocolVersion } from './mqtt-codec.ts'
import { MqttCodecError } from './mqtt-wire.ts'

/**
 * Streaming decoder: push whatever bytes arrived (a WebSocket frame may carry part of a packet or
 * several packets) and get back every packet completed so far. After a malformed packet it stays
 * failed: the connection must be closed (5.0 §4.13, 3.1.1 §4.8).
 */
export class MqttDecoder {
  private buf: Uint8Array = new Uint8Array(0)
  private failed: MqttCodecError | undefined
  /** `maxPacketSize` bounds a packet including its fixed header (5.0 §3.1.2.11.4); default the protocol's own limit. */
  constructor (public version: ProtocolVersion, readonly maxPacketSize = 1 + 4 + 268_435_455) {}

  get buffered (): number { return this.buf.length }

  push (chunk: Uint8Array | ArrayBuffer): MqttPacket[] {
    if (this.failed !== undefined) throw this.failed
    // A plain Uint8Array view whatever came in (ArrayBuffer in k6; Node's Buffer in tests).
    const bytes = chunk instanceof ArrayBuffer ? new Uint8Array(chunk) : new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    if (this.buf.length === 0) this.buf = bytes
    else {
      const merged = new Uint8Array(this.buf.length + bytes.length)
      merged.set(this.buf, 0)
      merged.set(bytes, this.buf.length)
      this.buf = merged
    }
    const out: MqttPacket[] = []
    let pos = 0
    try {
      while (this.buf.length - pos >= 2) {
        // Fixed header: type/flags byte, then Remaining Length as a Variable Byte Integer (3.1.1 §2.2.3, 5.0 §1.5.5).
        let length = 0
        let mult = 1
        let i = pos + 1
        let complete = false
        for (; i < this.buf.length && i < pos + 5; i++) {
          const b = this.buf[i] as number
          length += (b & 0x7f) * mult
          mult *= 128
          if ((b & 0x80) === 0) { complete = true; i++; break }
        }
        if (!complete) {
          if (i >= pos + 5) throw new MqttCodecError('BAD_VARINT', 'remaining length longer than 4 bytes [MQTT-1.5.5-1]')
          break
        }
        if (i - pos + length > this.maxPacketSize) throw new MqttCodecError('TOO_LARGE', `packet of ${i - pos + length} bytes exceeds the maximum of ${this.maxPacketSize}`)
        if (this.buf.length < i + length) break
        out.push(decodeBody(this.buf[pos] as number, this.buf.subarray(i, i + length), this.version))
        pos = i + length
      }
    } catch (err) {
      this.failed = err instanceof MqttCodecError ? err : new MqttCodecError('DECODE', String(err))
      throw this.failed
    }
    this.buf = pos === this.buf.length ? new Uint8Array(0) : this.buf.slice(pos)
    return out
  }
}
