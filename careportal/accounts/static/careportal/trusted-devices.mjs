// The trusted-device list on "Sign-in and security" (accounts/security/trusted_devices.jinja), with htmx: a "stop
// trusting" form posts in the background and the list that comes back replaces the old one.
//
// htmx would swap in whatever came back. Only the list is swapped (the view marks it with CarePortal-Fragment);
// anything else, such as the sign-in page after the session ended elsewhere, or a "page not found" for a device
// already forgotten in another tab, makes the form post again the ordinary way, so the person sees what they would
// see without JavaScript.
document.addEventListener("htmx:beforeSwap", (event) => {
  const { xhr, requestConfig } = event.detail;
  if (xhr.status === 200 && xhr.getResponseHeader("CarePortal-Fragment") === "trusted-devices") {
    return;
  }
  event.detail.shouldSwap = false;
  const form = requestConfig.elt;
  if (form instanceof HTMLFormElement) {
    form.submit(); // submit() fires no submit event, so htmx leaves this post to the browser
  }
});
