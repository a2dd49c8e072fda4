// Errors from allauth's passkey scripts (mfa/js/webauthn.js), shown on the page rather than only in the console.
//
// allauth dispatches a cancelable `allauth.error` event when the browser's passkey prompt fails or is cancelled;
// this writes a plain message into the page's [data-passkey-error] element (a role="alert" region, so screen
// readers announce it) and moves focus there.

const MESSAGES = {
  NotAllowedError: "The passkey request was cancelled or timed out. Try again when you are ready.",
  InvalidStateError: "This passkey is already set up for your account.",
  SecurityError: "Passkeys do not work at this web address. Call the helpdesk if this keeps happening.",
  NotSupportedError: "This browser or device cannot use passkeys. Use another way to confirm it is you.",
};
const FALLBACK = "Something went wrong with the passkey. Try again, or use another way to confirm it is you.";

document.addEventListener("allauth.error", (event) => {
  const box = document.querySelector("[data-passkey-error]");
  if (!box) {
    return;
  }
  event.preventDefault();
  const name = event.detail?.exception?.name;
  box.querySelector("[data-passkey-error-text]").textContent = MESSAGES[name] ?? FALLBACK;
  box.hidden = false;
  box.focus();
});
