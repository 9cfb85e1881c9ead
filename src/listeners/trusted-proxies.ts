import { StarlingError } from '../errors.js'
import { BlockList, isIPv4, isIPv6 } from 'node:net'

/**
 * The sources whose PROXY protocol header is believed (`mqtt.proxyProtocolTrustedCidrs`). The
 * header names the client address the broker logs, limits and authorizes by, so a peer that
 * can send one can claim any address: receivers take it only from known senders (HAProxy's
 * PROXY protocol specification; NGINX's `set_real_ip_from` and Squid's `proxy_protocol_access`
 * trust no source by default).
 */
export class TrustedProxies {
  readonly #list = new BlockList()

  /** `cidrs` as validated by the config schema (`isCidr`). */
  constructor (cidrs: readonly string[]) {
    for (const cidr of cidrs) {
      const parsed = parseCidr(cidr)
      if (parsed === undefined) throw new StarlingError('STARLING_ERR_CONFIG_INVALID', [`mqtt.proxyProtocolTrustedCidrs: not a CIDR: ${cidr}`])
      this.#list.addSubnet(parsed.address, parsed.prefix, parsed.family)
    }
  }

  /** Whether a connection from `address` (a socket's remoteAddress) may send a PROXY header. */
  trusts (address: string | undefined): boolean {
    if (address === undefined) return false
    // a dual-stack listener reports IPv4 peers as IPv4-mapped IPv6 (::ffff:a.b.c.d)
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1]
    if (mapped !== undefined) return this.#list.check(mapped, 'ipv4')
    if (isIPv4(address)) return this.#list.check(address, 'ipv4')
    if (isIPv6(address)) return this.#list.check(address, 'ipv6')
    return false
  }
}

/** `a.b.c.d/n` (n ≤ 32) or an IPv6 address `/n` (n ≤ 128); a bare address is a /32 or /128. */
export function parseCidr (cidr: string): { address: string, prefix: number, family: 'ipv4' | 'ipv6' } | undefined {
  const slash = cidr.indexOf('/')
  const address = slash < 0 ? cidr : cidr.slice(0, slash)
  const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined
  if (family === undefined) return undefined
  const max = family === 'ipv4' ? 32 : 128
  if (slash < 0) return { address, prefix: max, family }
  const text = cidr.slice(slash + 1)
  if (!/^\d{1,3}$/.test(text)) return undefined
  const prefix = Number(text)
  return prefix <= max ? { address, prefix, family } : undefined
}

export function isCidr (cidr: string): boolean {
  return parseCidr(cidr) !== undefined
}
