// Starts the NHS.UK frontend components (header menu, error summary focus, password reveal, ...) and the
// session helpers. Every page works without this file: it only enhances.
import { initAll } from "../nhsuk/nhsuk-frontend.min.js";
import { initSessionTimeout } from "./session-timeout.mjs";

initAll();
initSessionTimeout();
