/**
 * Redis Cluster's key → hash slot function (CRC16-XMODEM of the key, or of its `{hash tag}`,
 * modulo 16384), so Starling can name pub/sub channels and read key layouts by slot without a
 * round trip. Same algorithm as Redis' cluster.c keyHashSlot.
 */

export const CLUSTER_SLOTS = 16384

const TABLE = (() => {
  const table = new Uint16Array(256)
  for (let i = 0; i < 256; i++) {
    let crc = i << 8
    for (let bit = 0; bit < 8; bit++) crc = (crc & 0x8000) !== 0 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff
    table[i] = crc
  }
  return table
})()

function crc16 (bytes: Uint8Array, start: number, end: number): number {
  let crc = 0
  for (let i = start; i < end; i++) crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ bytes[i]!) & 0xff]!
  return crc
}

/** The hash slot of a key or shard channel: only the first non-empty `{...}` counts when there is one. */
export function keySlot (key: string): number {
  const bytes = Buffer.from(key, 'utf8')
  const open = bytes.indexOf(0x7b) // {
  if (open !== -1) {
    const close = bytes.indexOf(0x7d, open + 1) // }
    if (close > open + 1) return crc16(bytes, open + 1, close) % CLUSTER_SLOTS
  }
  return crc16(bytes, 0, bytes.length) % CLUSTER_SLOTS
}
