// "Test your camera and microphone" (video/camera_check.jinja): a live preview of the camera and a level meter for
// the microphone, entirely in the browser. Nothing is recorded or sent anywhere.
//
// Without this script the page shows its fallback text. With it, the test is shown, and when something stops it
// (permission refused, no camera, camera busy, an old browser) the matching explanation from the page is shown
// and focused, so that a screen reader reads it out.

const root = document.querySelector("[data-camera-check]");
if (root) {
  setUp(root);
}

function setUp(root) {
  const fallback = document.querySelector("[data-camera-check-fallback]");
  const startButton = root.querySelector("[data-camera-start]");
  const stopButton = root.querySelector("[data-camera-stop]");
  const preview = root.querySelector("[data-camera-preview]");
  const video = root.querySelector("[data-camera-video]");
  const videoHint = root.querySelector("[data-camera-video-hint]");
  const meter = root.querySelector("[data-camera-meter]");
  const microphoneBlock = root.querySelector("[data-camera-microphone]");
  const status = root.querySelector("[data-camera-status]");
  const states = root.querySelectorAll("[data-camera-state]");

  let stream = null;
  let audioContext = null;
  let frame = 0;
  let heard = false;

  if (fallback) {
    fallback.hidden = true;
  }
  root.hidden = false;

  if (!navigator.mediaDevices || typeof navigator.mediaDevices.getUserMedia !== "function") {
    // Old browsers, and pages not served over https (browsers allow cameras only on secure pages).
    startButton.hidden = true;
    showState("unsupported");
    return;
  }

  startButton.addEventListener("click", start);
  stopButton.addEventListener("click", () => {
    stop();
    status.textContent = "The test has stopped. Your camera and microphone are off.";
    startButton.focus();
  });
  window.addEventListener("pagehide", stop);

  async function start() {
    stop();
    showState(null);
    status.textContent = "Starting your camera and microphone…";
    startButton.disabled = true;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
      showTest({ camera: true, microphone: true });
    } catch (error) {
      await startWhatWorks(error);
    } finally {
      startButton.disabled = false;
    }
  }

  // getUserMedia fails as a whole when either device is missing: find out which, and test the one that is there.
  async function startWhatWorks(error) {
    const name = error && error.name;
    if (name === "NotAllowedError" || name === "SecurityError" || name === "PermissionDeniedError") {
      fail("denied");
      return;
    }
    if (name === "NotReadableError" || name === "TrackStartError" || name === "AbortError") {
      fail("in-use");
      return;
    }
    if (name !== "NotFoundError" && name !== "DevicesNotFoundError" && name !== "OverconstrainedError") {
      fail("failed");
      return;
    }
    const devices = await navigator.mediaDevices.enumerateDevices().catch(() => []);
    const camera = devices.some((device) => device.kind === "videoinput");
    const microphone = devices.some((device) => device.kind === "audioinput");
    if (!camera && !microphone) {
      fail("nothing-found");
      return;
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: camera, audio: microphone });
    } catch (retryError) {
      fail(retryError && retryError.name === "NotAllowedError" ? "denied" : "failed");
      return;
    }
    showTest({ camera, microphone });
    showState(camera ? "microphone-missing" : "camera-missing", { focus: true });
  }

  function showTest({ camera, microphone }) {
    preview.hidden = false;
    video.hidden = !camera;
    videoHint.hidden = !camera;
    microphoneBlock.hidden = !microphone;
    if (camera) {
      video.srcObject = stream;
    }
    startButton.hidden = true;
    stopButton.hidden = false;
    stopButton.focus();
    heard = false;
    if (microphone) {
      listen();
    }
    status.textContent = camera
      ? "Your camera is on. Check that you can see yourself, then say a few words."
      : "Your microphone is on. Say a few words.";
  }

  function listen() {
    const AudioContextClass = window.AudioContext || window.webkitAudioContext;
    if (!AudioContextClass) {
      return;
    }
    audioContext = new AudioContextClass();
    const analyser = audioContext.createAnalyser();
    analyser.fftSize = 1024;
    audioContext.createMediaStreamSource(stream).connect(analyser);
    const samples = new Uint8Array(analyser.fftSize);
    // Heard once the level has been up for 8 frames (about an eighth of a second in all): a few words do that, a
    // single knock or click does not.
    let loudFrames = 0;
    const tick = () => {
      analyser.getByteTimeDomainData(samples);
      let sum = 0;
      for (const sample of samples) {
        const centred = (sample - 128) / 128;
        sum += centred * centred;
      }
      // Speech at a normal distance gives a root mean square of about 0.05 to 0.2: scale that to the meter.
      const level = Math.min(100, Math.round(Math.sqrt(sum / samples.length) * 400));
      meter.value = level;
      if (level >= 10) {
        loudFrames += 1;
      }
      if (!heard && loudFrames >= 8) {
        heard = true;
        status.textContent = "We can hear you: your microphone is working.";
      }
      frame = requestAnimationFrame(tick);
    };
    tick();
  }

  function stop() {
    cancelAnimationFrame(frame);
    if (stream) {
      for (const track of stream.getTracks()) {
        track.stop();
      }
      stream = null;
    }
    if (audioContext) {
      audioContext.close().catch(() => {});
      audioContext = null;
    }
    video.srcObject = null;
    meter.value = 0;
    preview.hidden = true;
    stopButton.hidden = true;
    startButton.hidden = false;
  }

  function fail(state) {
    stop();
    status.textContent = "";
    showState(state, { focus: true });
  }

  function showState(name, { focus = false } = {}) {
    for (const element of states) {
      element.hidden = element.dataset.cameraState !== name;
      if (!element.hidden && focus) {
        element.focus();
      }
    }
  }
}
