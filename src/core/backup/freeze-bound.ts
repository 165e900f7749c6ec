// The arithmetic of the freeze bound (docs/consistency.md, "The freeze bound"), pure, shared by the
// config, the quiesce gate and their tests.

/**
 * Seconds of the bound kept free beyond one agent call: a freeze is only asked for while at least
 * `quiesce_timeout` + this is left before the watchdog's deadline, so that the freeze call has
 * returned (libvirt gives up after `quiesce_timeout`) and the copy can start before the watchdog thaws.
 */
export const FREEZE_MARGIN_SECONDS = 5;

/**
 * Why a `quiesce_max_freeze` cannot bound freezes asked for with `quiesce_timeout`, or undefined.
 * A bound no longer than one freeze call plus the margin would leave no time to freeze and start.
 */
export function freezeBoundProblem(timeoutSeconds: number, maxFreezeSeconds: number): string | undefined {
  if (maxFreezeSeconds > timeoutSeconds + FREEZE_MARGIN_SECONDS) return undefined;
  return `quiesce_max_freeze (${maxFreezeSeconds} s) must be more than quiesce_timeout (${timeoutSeconds} s) + ${FREEZE_MARGIN_SECONDS} s: a freeze call may take quiesce_timeout, and the copy must start before the bound`;
}

/**
 * Why no freeze may be asked for now, or undefined: less than one freeze call (`timeoutSeconds`)
 * plus the margin is left before `deadline` (epoch ms), e.g. because the watchdog was slow to start.
 */
export function tooLateToFreeze(
  began: number,
  deadline: number,
  now: number,
  timeoutSeconds: number,
): string | undefined {
  const leftMs = deadline - now;
  if (leftMs >= (timeoutSeconds + FREEZE_MARGIN_SECONDS) * 1000) return undefined;
  return `${((now - began) / 1000).toFixed(1)} s of the ${Math.round((deadline - began) / 1000)} s freeze bound went before the freeze could be asked for (the watchdog's start): less than quiesce_timeout (${timeoutSeconds} s) + ${FREEZE_MARGIN_SECONDS} s was left`;
}
