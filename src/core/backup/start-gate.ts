// The hook both copy engines run their start call through, so that the guest can be frozen around it.

/**
 * Runs an engine's start call (the QMP transaction, libvirt's backupBegin), e.g. with the guest's
 * filesystems frozen (src/core/backup/quiesce.ts): both engines copy from the instant they start, so
 * a freeze need only span the start.
 */
export type StartGate = <T>(start: () => Promise<T>) => Promise<T>;

/** Starts at once. */
export const noGate: StartGate = (start) => start();
