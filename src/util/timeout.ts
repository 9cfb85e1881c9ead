/**
 * The one time-out race: settles as `work` does, or with what `late()` returns once `ms` have
 * passed (if `late` throws, the race rejects with that). The timer never outlives the race, so
 * a finished race keeps no process alive; `work` itself is not cancelled.
 */
export function withTimeout<T, L> (work: PromiseLike<T>, ms: number, late: () => L): Promise<T | L> {
  let timer: NodeJS.Timeout | undefined
  const timedOut = new Promise<L>((resolve, reject) => {
    timer = setTimeout(() => {
      try {
        resolve(late())
      } catch (err) {
        reject(err)
      }
    }, ms)
  })
  return Promise.race([Promise.resolve(work), timedOut]).finally(() => clearTimeout(timer))
}

/** Marks a race lost to the clock, for callers whose work may itself resolve to anything. */
export const TIMED_OUT: unique symbol = Symbol('timed out')

/** `withTimeout` whose time-out yields TIMED_OUT. */
export function orTimedOut<T> (work: PromiseLike<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  return withTimeout(work, ms, () => TIMED_OUT)
}
