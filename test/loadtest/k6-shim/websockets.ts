/**
 * Test shim of k6/websockets over Node's `ws`: the subset the k6 scripts use (constructor with
 * params.headers, binaryType 'arraybuffer', on* handlers, send, close, readyState).
 */
import { WebSocket as NodeWebSocket } from 'ws'
import { shim } from './state.js'

export class WebSocket {
  static readonly CONNECTING = 0
  static readonly OPEN = 1
  static readonly CLOSING = 2
  static readonly CLOSED = 3
  binaryType = 'blob'
  onopen: () => void = () => {}
  onmessage: (event?: { data: ArrayBuffer | string }) => void = () => {}
  onclose: () => void = () => {}
  onerror: (event?: { error: string }) => void = () => {}
  readonly #ws: NodeWebSocket

  constructor (url: string, _protocols: null, params: { headers?: Record<string, string> } | null = null) {
    const offered = params?.headers?.['Sec-WebSocket-Protocol']
    this.#ws = new NodeWebSocket(url, offered === undefined ? [] : offered.split(',').map((p) => p.trim()))
    shim.sockets++
    this.#ws.on('open', () => this.onopen())
    this.#ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (this.binaryType !== 'arraybuffer') throw new Error('shim: the scripts must set binaryType = arraybuffer')
      this.onmessage({ data: isBinary ? data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer : data.toString() })
    })
    this.#ws.on('error', (err) => this.onerror({ error: err.message }))
    this.#ws.on('close', () => { shim.sockets--; this.onclose() })
  }

  get readyState (): number { return this.#ws.readyState }
  send (data: ArrayBuffer | string): void {
    if (!(data instanceof ArrayBuffer)) throw new Error('shim: the scripts send ArrayBuffers')
    this.#ws.send(new Uint8Array(data))
  }

  close (): void { this.#ws.close() }
}
