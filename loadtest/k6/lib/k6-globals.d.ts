/** k6 provides `console` at runtime; @types/k6 does not declare it and the k6 project has no DOM or Node types. */
declare const console: {
  log (...args: unknown[]): void
  info (...args: unknown[]): void
  warn (...args: unknown[]): void
  error (...args: unknown[]): void
}
