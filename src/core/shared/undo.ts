// An undo stack for multi-step operations: each finished step registers how to revert it; on
// failure the steps are reverted newest first, and a failing revert is logged, never masking the
// original error.
import { logger } from '../../log';

const log = logger('undo');

export class UndoStack {
  private steps: Array<{ what: string; revert: () => Promise<unknown> }> = [];

  /** Registers the revert of a step that just completed. */
  push(what: string, revert: () => Promise<unknown>): void {
    this.steps.push({ what, revert });
  }

  /** Forgets every step: the operation committed. */
  commit(): void {
    this.steps = [];
  }

  /** Reverts every registered step, newest first. Returns the descriptions of reverts that failed. */
  async revert(): Promise<string[]> {
    const failed: string[] = [];
    for (const step of this.steps.reverse()) {
      try {
        await step.revert();
      } catch (err) {
        log.warn(`could not undo ${step.what}: ${(err as Error).message}`);
        failed.push(step.what);
      }
    }
    this.steps = [];
    return failed;
  }
}
