/**
 * `.dockerignore` semantics as Docker applies them (moby/patternmatcher): `#` comments, `!`
 * re-includes, `*` and `?` within one path segment, `**` across segments, a pattern matching a
 * folder covers everything in it, and the last matching pattern wins.
 */

export interface IgnoreRule { readonly negate: boolean, readonly regex: RegExp }

function toRegex (pattern: string): RegExp {
  let re = ''
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string
    if (c === '*' && pattern[i + 1] === '*') {
      i++
      if (pattern[i + 1] === '/') { i++; re += '(?:.*/)?' } else re += '.*'
    } else if (c === '*') {
      re += '[^/]*'
    } else if (c === '?') {
      re += '[^/]'
    } else {
      re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&')
    }
  }
  return new RegExp(`^${re}$`)
}

export function parseDockerignore (text: string): IgnoreRule[] {
  return text.split('\n').map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#')).map((line) => {
    const negate = line.startsWith('!')
    const pattern = (negate ? line.slice(1) : line).trim().replace(/^\/+/, '').replace(/\/+$/, '')
    return { negate, regex: toRegex(pattern) }
  })
}

/** Whether a path (relative to the context, `/`-separated) is left out of the build context. */
export function isIgnored (rules: readonly IgnoreRule[], path: string): boolean {
  const parts = path.split('/')
  const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'))
  let ignored = false
  for (const rule of rules) {
    if (prefixes.some((p) => rule.regex.test(p))) ignored = !rule.negate
  }
  return ignored
}
