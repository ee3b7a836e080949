const SIGNALS: readonly NodeJS.Signals[] = ["SIGTERM", "SIGINT"];

/**
 * Sends the final heartbeat when the process ends: on SIGTERM and SIGINT, and when the
 * event loop runs empty (beforeExit).
 *
 * Any signal listener replaces Node's default action for the signal, which is to end the
 * process. When the application has no listener of its own, the hook sends the final
 * heartbeat, removes itself and sends the signal again, so the process ends by that
 * signal as it would have without the SDK. When the application listens too, the hook
 * does nothing: the application decides whether the process ends, and if it ends by
 * running out of work, beforeExit sends the final heartbeat.
 *
 * NOTE: process.exit() and uncaught exceptions end the process without beforeExit, so an
 * application that exits that way (also from its own signal handler) sends no final
 * heartbeat unless it awaits clevagent.shutdown() first. Node cannot send HTTP from the
 * synchronous 'exit' event.
 */
export class ProcessHooks {
  private readonly shutdown: () => Promise<unknown>;
  private installed = false;
  private signalled = false;
  private exiting = false;

  constructor(shutdown: () => Promise<unknown>) {
    this.shutdown = shutdown;
  }

  install(): void {
    if (this.installed) {
      return;
    }
    this.installed = true;
    for (const signal of SIGNALS) {
      process.on(signal, this.onSignal);
    }
    process.on("beforeExit", this.onBeforeExit);
  }

  uninstall(): void {
    if (!this.installed) {
      return;
    }
    this.installed = false;
    for (const signal of SIGNALS) {
      process.removeListener(signal, this.onSignal);
    }
    process.removeListener("beforeExit", this.onBeforeExit);
  }

  private readonly onSignal = (signal: NodeJS.Signals): void => {
    if (process.listenerCount(signal) > 1) {
      return;
    }
    // A second signal while the final heartbeat is on its way ends the process at once.
    if (this.signalled) {
      this.raiseAgain(signal);
      return;
    }
    this.signalled = true;
    const raise = (): void => this.raiseAgain(signal);
    this.shutdown().then(raise, raise);
  };

  private readonly onBeforeExit = (): void => {
    // Sending schedules more work, so beforeExit fires again once it is done.
    if (!this.exiting) {
      this.exiting = true;
      this.shutdown().catch(() => {});
    }
  };

  private raiseAgain(signal: NodeJS.Signals): void {
    this.uninstall();
    // The application may have added a listener meanwhile; then it decides what happens.
    if (process.listenerCount(signal) === 0) {
      process.kill(process.pid, signal);
    }
  }
}
