// The idle-timeout warning (WCAG 2.2.1 Timing Adjustable).
//
// The server signs a person out after CAREPORTAL_IDLE_TIMEOUT_SECONDS without a request, and after an absolute
// lifetime whatever they do (careportal/accounts/middleware.py). CAREPORTAL_IDLE_WARNING_SECONDS before that, this
// opens a modal dialog that says how long is left and offers "Stay signed in" (a POST to the keep-alive address,
// which counts as activity) or "Sign out". When the time is up it goes to the sign-in page, where the server says
// why the person was signed out.
//
// Before warning, and every 15 seconds while the dialog is open, it asks the server how long is really left (work
// in another tab keeps the session alive). Those requests carry `X-CarePortal-Session-Poll: 1`, so they do not
// count as activity. The countdown text is a polite live region changed at most every 15 seconds, so a screen
// reader is not interrupted every second. Escape counts as "Stay signed in".
//
// Everything is read from the page: timings and addresses from data- attributes on <body> (set only for a
// signed-in person), the dialog's words and the CSRF token from <template id="careportal-session-timeout-template">.
// Without JavaScript, or without <dialog>, nothing happens here and the server's limits still apply.

const POLL_HEADERS = { Accept: "application/json", "X-CarePortal-Session-Poll": "1" };
const TICK_MS = 15_000;

/** "2 minutes", "1 minute and 45 seconds", "30 seconds": the time left, rounded up to the next 15 seconds. */
export function describeTimeLeft(milliseconds) {
  const seconds = Math.max(0, Math.ceil(milliseconds / TICK_MS) * (TICK_MS / 1000));
  if (seconds === 0) {
    return "a few seconds";
  }
  const minutes = Math.floor(seconds / 60);
  const rest = seconds % 60;
  const parts = [];
  if (minutes) {
    parts.push(`${minutes} ${minutes === 1 ? "minute" : "minutes"}`);
  }
  if (rest) {
    parts.push(`${rest} seconds`);
  }
  return parts.join(" and ");
}

class SessionTimeout {
  constructor(body, template) {
    const data = body.dataset;
    this.timeoutMs = Number(data.sessionTimeout) * 1000;
    this.warningMs = Number(data.sessionWarning) * 1000;
    this.statusUrl = data.sessionStatusUrl;
    this.keepAliveUrl = data.sessionKeepAliveUrl;
    this.endedUrl = data.sessionEndedUrl;

    this.dialog = template.content.firstElementChild.cloneNode(true);
    body.append(this.dialog);
    this.countdown = this.dialog.querySelector("[data-session-countdown]");
    this.question = this.dialog.querySelector("[data-session-question]");
    this.stayButton = this.dialog.querySelector("[data-session-stay]");
    this.csrfToken = this.dialog.querySelector("input[name=csrfmiddlewaretoken]")?.value ?? "";
    this.idleQuestion = this.question.textContent;
    this.idleButton = this.stayButton.textContent;

    this.deadline = 0;
    this.extendable = true;
    this.timer = null;
    this.ticker = null;
    this.endTimer = null;
    this.returnFocusTo = null;

    this.stayButton.addEventListener("click", () => this.stay());
    this.dialog.addEventListener("cancel", (event) => {
      // Escape: the person is here, which is what "Stay signed in" asks.
      event.preventDefault();
      this.stay();
    });
  }

  start() {
    // The page has just loaded: that request was activity, so the full idle time is left.
    this.schedule(this.timeoutMs / 1000, true);
  }

  schedule(expiresInSeconds, extendable) {
    window.clearTimeout(this.timer);
    this.deadline = Date.now() + expiresInSeconds * 1000;
    this.extendable = extendable;
    const untilWarning = expiresInSeconds * 1000 - this.warningMs;
    if (untilWarning > 0) {
      if (this.dialog.open) {
        this.close();
      }
      this.timer = window.setTimeout(() => this.check(), untilWarning);
    } else {
      this.open();
    }
  }

  async status(options = {}) {
    // Returns the server's answer, { signedIn: false } once the session has ended, or null when the server cannot
    // be reached (then the page keeps to its own clock rather than signing anyone out over a network blip).
    try {
      const response = await fetch(options.url ?? this.statusUrl, {
        method: options.method ?? "GET",
        headers: options.headers ?? POLL_HEADERS,
        credentials: "same-origin",
        cache: "no-store",
        redirect: "manual",
      });
      if (response.type === "opaqueredirect" || response.status === 401 || response.status === 403) {
        return { signedIn: false };
      }
      if (!response.ok) {
        return null;
      }
      return await response.json();
    } catch {
      return null;
    }
  }

  async check() {
    const answer = await this.status();
    if (answer === null) {
      this.schedule(Math.max(0, (this.deadline - Date.now()) / 1000), this.extendable);
    } else if (!answer.signedIn) {
      this.end();
    } else {
      this.schedule(answer.expiresIn, answer.extendable);
    }
  }

  open() {
    this.question.textContent = this.extendable ? this.idleQuestion : this.dialog.dataset.textAbsoluteQuestion;
    this.stayButton.textContent = this.extendable ? this.idleButton : this.dialog.dataset.textAbsoluteButton;
    this.updateCountdown();
    window.clearTimeout(this.endTimer);
    // A second after the deadline, so that the server has certainly ended the session when we ask.
    this.endTimer = window.setTimeout(() => this.onDeadline(), Math.max(0, this.deadline - Date.now()) + 1000);
    if (this.dialog.open) {
      return;
    }
    this.returnFocusTo = document.activeElement;
    this.dialog.showModal();
    this.stayButton.focus();
    this.ticker = window.setInterval(() => this.tick(), TICK_MS);
  }

  close() {
    window.clearInterval(this.ticker);
    window.clearTimeout(this.endTimer);
    this.dialog.close();
    if (this.returnFocusTo && typeof this.returnFocusTo.focus === "function") {
      this.returnFocusTo.focus();
    }
    this.returnFocusTo = null;
  }

  updateCountdown() {
    this.countdown.textContent = `You will be signed out in ${describeTimeLeft(this.deadline - Date.now())}.`;
  }

  async tick() {
    this.updateCountdown();
    const answer = await this.status();
    if (answer && answer.signedIn && answer.expiresIn * 1000 > this.warningMs) {
      // Activity in another tab put the limit off.
      this.schedule(answer.expiresIn, answer.extendable);
    } else if (answer && !answer.signedIn) {
      this.end();
    }
  }

  async onDeadline() {
    const answer = await this.status();
    if (answer && answer.signedIn && answer.expiresIn > 0) {
      this.schedule(answer.expiresIn, answer.extendable);
    } else {
      this.end();
    }
  }

  async stay() {
    if (!this.extendable) {
      this.close();
      this.endTimer = window.setTimeout(() => this.onDeadline(), Math.max(0, this.deadline - Date.now()) + 1000);
      return;
    }
    const answer = await this.status({
      url: this.keepAliveUrl,
      method: "POST",
      headers: { Accept: "application/json", "X-CSRFToken": this.csrfToken },
    });
    if (answer && answer.signedIn) {
      this.close();
      this.schedule(answer.expiresIn, answer.extendable);
    } else if (answer && !answer.signedIn) {
      this.end();
    }
  }

  end() {
    window.clearTimeout(this.timer);
    window.clearInterval(this.ticker);
    window.location.assign(this.endedUrl);
  }
}

/** Start the warning on a signed-in page; returns the controller, or null when there is nothing to do. */
export function initSessionTimeout(doc = document) {
  const body = doc.body;
  const template = doc.getElementById("careportal-session-timeout-template");
  if (!body.dataset.sessionTimeout || !template || typeof HTMLDialogElement === "undefined") {
    return null;
  }
  const controller = new SessionTimeout(body, template);
  controller.start();
  return controller;
}
