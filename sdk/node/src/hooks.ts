const SIGNALS: readonly NodeJS.Signals[] = ["SIGTERM", "SIGINT"];

/**
 * Sends the final heartbeat when the process ends: on SIGTERM and SIGINT, and when the
 * event loop runs empty (beforeExit).
 *
 * A signal listener replaces Node's default action, which is to end the process. So when
 * the application has no listener of its own for the signal, the hook removes itself
 * after the final heartbeat and sends the signal again, and the process ends by that
 * signal as it would have without the SDK. When the application listens too, ending the
 * process is left to it.
 *
 * NOTE: process.exit() and uncaught exceptions end the process without beforeExit, and
 * an application handler that calls process.exit() at once ends it before the final
 * heartbeat is sent; call `await clevagent.shutdown()` before exiting in those paths.
 */
export class ProcessHooks {
  private readonly shutdown: () => Promise<void>;
  private installed = false;
  private signalled = false;
  private exiting = false;

  constructor(shutdown: () => Promise<void>) {
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
    const applicationListens = process.listenerCount(signal) > 1;

    // A second signal while the final heartbeat is on its way ends the process at once.
    if (this.signalled) {
      if (!applicationListens) {
        this.raiseAgain(signal);
      }
      return;
    }
    this.signalled = true;

    void this.shutdown().then(() => {
      if (!applicationListens) {
        this.raiseAgain(signal);
      }
    });
  };

  private readonly onBeforeExit = (): void => {
    // Sending the heartbeat schedules work, so beforeExit fires again once it is done.
    if (!this.exiting) {
      this.exiting = true;
      void this.shutdown();
    }
  };

  private raiseAgain(signal: NodeJS.Signals): void {
    this.uninstall();
    try {
      process.kill(process.pid, signal);
    } catch {
      process.exit(1);
    }
  }
}
