/**
 * A caller's timeout that lets replies already read off the socket win.
 *
 * Node runs expired timers before it polls sockets, so after a stall of the event loop (a client
 * busy settling a herd of answers: 250–600 ms in the leaseclaimer's herds) every request whose
 * deadline passed during the stall timed out first, and its reply, waiting in the socket all along,
 * was read a moment later and thrown away — the operation had been applied and the caller was told
 * `Timeout`. Here the timer only schedules the timeout for the check phase, after this turn's poll:
 * a reply that is there by then settles the call (a caller that later reads the socket settles
 * nothing twice). At most one loop turn later than a plain timer when no reply has come.
 */
export function timeoutAfterIo(onTimeout: () => void, ms: number): NodeJS.Timeout {
  return setTimeout(() => setImmediate(onTimeout), ms);
}
