// An undo stack for multi-step operations: each finished step registers how to revert it; on
// failure the steps are reverted newest first, and a failing revert is logged, never masking the
// original error.
import { logger } from '../../log';

const log = logger('undo');

export class UndoStack {
  private steps: Array<{ what: string; revert: () => Promise<unknown> }> = [];
  private finals: Array<{ what: string; run: () => Promise<unknown> }> = [];

  /** Registers the revert of a step that just completed. */
  push(what: string, revert: () => Promise<unknown>): void {
    this.steps.push({ what, revert });
  }

  /** Registers what runs once the operation committed (a marker of work in progress comes off). */
  afterCommit(what: string, run: () => Promise<unknown>): void {
    this.finals.push({ what, run });
  }

  /**
   * The operation committed: forgets every revert, then runs the after-commit steps. One that fails
   * is logged; the operation stays committed.
   */
  async commit(): Promise<void> {
    this.steps = [];
    const finals = this.finals;
    this.finals = [];
    for (const step of finals) {
      try {
        await step.run();
      } catch (err) {
        log.warn(`could not finish ${step.what}: ${(err as Error).message}`);
      }
    }
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
    this.finals = [];
    return failed;
  }
}
