// The drawing pad shared by the Draw page (3:1, for numbers) and the Collect page (square).
//
// Strokes are kept as lists of points in pad units (0..1 of the width and of the height,
// plus milliseconds since the drawing's first point, one clock for all its strokes), not
// pixels, so the bitmap can be redrawn exactly after an undo or when the size or
// devicePixelRatio changes.
// The background is never filled: the exported PNG is transparent with dark ink, which is
// what the server expects (it composites onto white itself). The guide box is CSS.
// Once an answer says which strokes each digit was drawn from, they can be shown in a
// colour per digit (`colourDigits`): on screen only, the PNG is always exported in ink,
// and any change to the drawing puts the ink back.

const INK = "#111";
// About 1/14 of the height: at 280 px that is 20 px, which after the server scales a
// digit's ink to 20 px of a 28 px square gives strokes as thick as MNIST's.
const STROKE_RATIO = 1 / 14;
// Beyond 2x a sharper bitmap only costs the phone memory: the upload is at 1x whatever
// the bitmap's scale (toDataURL), and the models see 28x28 anyway.
const MAX_SCALE = 2;

// The colours of a number's digits, first to sixth (digits.css, --digits-stroke-N).
const DIGIT_COLOURS = 6;

// A round pen of `colour`, as thick as MNIST's strokes at the bitmap's height.
function setPen(ctx, height, colour = INK) {
  ctx.strokeStyle = colour;
  ctx.fillStyle = colour;
  ctx.lineWidth = height * STROKE_RATIO;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
}

export class DrawingPad extends EventTarget {
  #canvas;
  #ctx;
  #strokes = [];
  #cleared = null; // what the last Clear removed, until the next stroke: Undo brings it back
  #pointerId = null;
  #scale = 1; // bitmap pixels per CSS pixel
  #origin = 0; // event.timeStamp of the drawing's first point: its strokes' t count from it
  #colours = null; // per stroke, the colour of the digit it was read as (null: ink)
  #revision = 0; // counts changes to the drawing, so an answer can tell it is still current

  constructor(canvas) {
    super();
    this.#canvas = canvas;
    this.#ctx = canvas.getContext("2d");
    canvas.addEventListener("pointerdown", (e) => this.#start(e));
    canvas.addEventListener("pointermove", (e) => this.#move(e));
    canvas.addEventListener("pointerup", (e) => this.#end(e));
    canvas.addEventListener("pointercancel", (e) => this.#end(e));
    // Without this a touch browser treats the stroke as the start of a gesture and drops
    // a tap that follows it quickly (the Recognize button "not reacting" after a flick).
    canvas.addEventListener("touchstart", (e) => e.preventDefault(), { passive: false });
    // Re-fit the bitmap whenever the CSS size changes (layout, zoom, rotation).
    new ResizeObserver(() => this.#fit()).observe(canvas);
    this.#fit();
  }

  get isEmpty() {
    return this.#strokes.length === 0;
  }

  get strokeCount() {
    return this.#strokes.length;
  }

  // Changes whenever the drawing does (a stroke begun, undone, cleared).
  get revision() {
    return this.#revision;
  }

  // Colour each digit's strokes: `digits` holds, per digit, the indices of its strokes
  // (the API's digits[i].strokes); strokes of no digit stay ink. Display only, until the
  // drawing next changes.
  colourDigits(digits) {
    const palette = getComputedStyle(this.#canvas);
    this.#colours = this.#strokes.map(() => null);
    digits.forEach((strokes, digit) => {
      const name = `--digits-stroke-${(digit % DIGIT_COLOURS) + 1}`;
      const colour = palette.getPropertyValue(name).trim() || INK;
      for (const index of strokes) {
        if (index >= 0 && index < this.#colours.length) this.#colours[index] = colour;
      }
    });
    this.#redraw();
  }

  // Whether Undo has something to take back: a stroke, or a drawing just cleared.
  get canUndo() {
    return this.#strokes.length > 0 || this.#cleared !== null;
  }

  undo() {
    this.#colours = null;
    if (this.#strokes.length > 0) {
      this.#strokes.pop();
    } else if (this.#cleared !== null) {
      this.#strokes = this.#cleared;
      this.#cleared = null;
    } else {
      return;
    }
    this.#redraw();
    this.#changed();
  }

  // Wipe the pad. Undo brings the drawing back (a stray Backspace must not lose it),
  // unless `undoable` is false: after a save, nothing is left to take back.
  clear({ undoable = true } = {}) {
    if (this.#strokes.length > 0 || !undoable) this.#cleared = undoable ? this.#strokes : null;
    this.#strokes = [];
    this.#pointerId = null;
    this.#colours = null;
    this.#redraw();
    this.#changed();
  }

  // The PNG sent is the pad at its CSS size, whatever the screen's pixel ratio: the
  // models see 28x28, and a 2x bitmap is four times the pixels for the server to decode.
  // Always in ink: a drawing shown in its digits' colours is redrawn for the export.
  toDataURL() {
    const { width, height } = this.size;
    if (width === this.#canvas.width && height === this.#canvas.height && this.#colours === null) {
      return this.#canvas.toDataURL("image/png");
    }
    const copy = document.createElement("canvas");
    copy.width = width;
    copy.height = height;
    this.#redraw(copy.getContext("2d"), width, height, null);
    return copy.toDataURL("image/png");
  }

  // The strokes as the API takes them: [[x, y, t], ...] per stroke, in pixels of the
  // exported image and milliseconds since the drawing's first point.
  get strokes() {
    const { width, height } = this.size;
    return this.#strokes.map((stroke) =>
      stroke.map(([x, y, t]) => [Math.round(x * width), Math.round(y * height), Math.round(t)]),
    );
  }

  // The exported image's size in pixels, for drawing over it (the boxes of a number).
  get size() {
    const { width, height } = this.#canvas;
    return { width: Math.round(width / this.#scale), height: Math.round(height / this.#scale) };
  }

  #fit() {
    const rect = this.#canvas.getBoundingClientRect();
    if (rect.width === 0) return; // hidden; fit again when it shows
    const scale = Math.min(window.devicePixelRatio || 1, MAX_SCALE);
    const width = Math.round(rect.width * scale);
    const height = Math.round(rect.height * scale);
    this.#scale = scale;
    if (this.#canvas.width !== width || this.#canvas.height !== height) {
      this.#canvas.width = width; // resizing also wipes the bitmap and the context state
      this.#canvas.height = height;
      this.#redraw();
    }
  }

  #point(event) {
    const rect = this.#canvas.getBoundingClientRect();
    const clamp = (v) => Math.min(1, Math.max(0, v));
    return [
      clamp((event.clientX - rect.left) / rect.width),
      clamp((event.clientY - rect.top) / rect.height),
      Math.max(0, event.timeStamp - this.#origin),
    ];
  }

  #start(event) {
    // One stroke at a time: a second finger or a right click does not draw.
    if (this.#pointerId !== null || (event.pointerType === "mouse" && event.button !== 0)) return;
    event.preventDefault();
    this.#canvas.setPointerCapture(event.pointerId);
    this.#pointerId = event.pointerId;
    this.#cleared = null;
    if (this.#strokes.length === 0) this.#origin = event.timeStamp; // a new drawing
    this.#revision += 1;
    if (this.#colours !== null) {
      this.#colours = null; // the drawing changes: back to ink
      this.#redraw();
    }
    const stroke = [this.#point(event)];
    this.#strokes.push(stroke);
    this.#paint(this.#ctx, stroke, this.#canvas.width, this.#canvas.height);
  }

  #move(event) {
    if (event.pointerId !== this.#pointerId) return;
    event.preventDefault();
    const stroke = this.#strokes.at(-1);
    // Coalesced events keep fast strokes smooth instead of a polyline of frame samples.
    const events = event.getCoalescedEvents?.() ?? [];
    for (const e of events.length ? events : [event]) {
      const last = stroke.at(-1);
      const next = this.#point(e);
      stroke.push(next);
      this.#segment(last, next);
    }
  }

  #end(event) {
    if (event.pointerId !== this.#pointerId) return;
    this.#pointerId = null;
    this.#changed();
  }

  #segment(from, to) {
    const { width, height } = this.#canvas;
    setPen(this.#ctx, height);
    this.#ctx.beginPath();
    this.#ctx.moveTo(from[0] * width, from[1] * height);
    this.#ctx.lineTo(to[0] * width, to[1] * height);
    this.#ctx.stroke();
  }

  // One stroke on `ctx`, a bitmap of `width` x `height` pixels (the pad's, or an export's).
  #paint(ctx, stroke, width, height, colour = INK) {
    setPen(ctx, height, colour);
    // Start with a dot: a tap must leave ink, and a zero-length line is not reliably
    // drawn with round caps.
    ctx.beginPath();
    ctx.arc(stroke[0][0] * width, stroke[0][1] * height, ctx.lineWidth / 2, 0, 2 * Math.PI);
    ctx.fill();
    if (stroke.length === 1) return;
    ctx.beginPath();
    ctx.moveTo(stroke[0][0] * width, stroke[0][1] * height);
    for (const [x, y] of stroke.slice(1)) ctx.lineTo(x * width, y * height);
    ctx.stroke();
  }

  // `colours`: per stroke, its colour or null for ink; null draws it all in ink (exports).
  #redraw(ctx = this.#ctx, width = this.#canvas.width, height = this.#canvas.height, colours = this.#colours) {
    ctx.clearRect(0, 0, width, height);
    this.#strokes.forEach((stroke, i) => {
      this.#paint(ctx, stroke, width, height, colours?.[i] ?? INK);
    });
  }

  #changed() {
    this.#revision += 1;
    this.dispatchEvent(new Event("change"));
  }
}
