// burnish workspace: hand-written, no third-party code (Apache-2.0, like burnish).
//
// The page never holds an image whole: it draws the server's 256-pixel tiles of the region
// in view at the zoom level shown (level z is the image shrunk by 2^z), coarser tiles
// enlarged while finer ones arrive. The mask is a list of shapes in image pixels (strokes,
// boxes, polygons), drawn here as an overlay and by the server into masks/{stem}.png, the
// file the steps and recipes read. Steps, history, recipes and approval are the server's.
"use strict";

const TILE = 256;
const $ = (id) => document.getElementById(id);
const canvas = $("view");
const ctx = canvas.getContext("2d");
const maskLayer = document.createElement("canvas");
const maskCtx = maskLayer.getContext("2d");

const token = new URLSearchParams(location.hash.slice(1)).get("token");
const state = {
  name: null, info: null, scale: 1, ox: 0, oy: 0, tool: "brush", view: "result",
  shapes: [], redo: [], drawing: null, polygon: null, key: null, busy: false,
  spaceHeld: false, pan: null, pointer: null, firstView: false,
};
const tiles = new Map(); // key -> ImageBitmap | "loading" | "failed"
const MAX_TILES = 800;
window.burnish = { state, tiles, timings: {} }; // read by the browser tests

// ---- the server ---------------------------------------------------------------------

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { message = (await response.json()).error || message; } catch (e) { /* not JSON */ }
    throw new Error(message);
  }
  return response;
}
const getJSON = async (path) => (await api(path)).json();
const sendJSON = async (path, body, method = "POST") => (await api(path, {
  method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
})).json();
const q = (name) => `name=${encodeURIComponent(name)}`;

function say(text, error = false) {
  const line = $("message");
  line.textContent = text ? String(text).split("\n")[0] : "";
  line.className = error ? "error" : "";
}
const fail = (error) => say(error.message || error, true);

// Follow a job's Server-Sent Events (read with fetch, so the token can go in a header).
async function followJob(job, onProgress) {
  const response = await api(job.events);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the server stopped sending progress");
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const name = (block.match(/^event: (.*)$/m) || [])[1];
      const data = (block.match(/^data: (.*)$/m) || [])[1];
      if (!name || !data) continue;
      const body = JSON.parse(data);
      if (name === "progress") onProgress(body);
      else if (name === "done") { reader.cancel(); return body; }
      else { reader.cancel(); throw new Error(body.error || `the job was ${name}`); }
    }
  }
}

// ---- opening images -----------------------------------------------------------------

async function loadWorkspace(select) {
  const workspace = await getJSON("/api/workspace");
  const list = $("images");
  list.replaceChildren(new Option(workspace.images.length ? "Choose an image" : "No images yet", ""));
  for (const name of workspace.images) list.add(new Option(name, name));
  const models = $("upscale-model");
  if (!models.options.length) for (const model of workspace.models) models.add(new Option(model, model));
  if (select) list.value = select;
  return workspace;
}

async function openImage(name) {
  window.burnish.timings.opened = performance.now();
  state.firstView = false;
  state.name = name;
  state.info = null;
  tiles.clear();
  $("images").value = name;
  history.replaceState(null, "", `#image=${encodeURIComponent(name)}${token ? `&token=${token}` : ""}`);
  await refresh(true);
  $("empty").hidden = true;
}

async function refresh(fitting = false) {
  const info = await getJSON(`/api/image?${q(state.name)}`);
  state.info = info;
  if (fitting) fit();
  state.shapes = info.mask || [];
  state.redo = [];
  showHistory();
  showMaskState();
  $("deliver-state").textContent = info.approved ? `approved: ${info.approved}` : "";
  draw();
  if (!info.ready || !info.original.ready) setTimeout(() => state.name === info.name && pollReady(info.name), 500);
}

async function pollReady(name) {
  const info = await getJSON(`/api/image?${q(name)}`);
  if (state.name !== name) return;
  state.info.ready = info.ready;
  state.info.original.ready = info.original.ready;
  if (!info.ready || !info.original.ready) { setTimeout(() => pollReady(name), 500); return; }
  for (const [key, tile] of tiles) if (tile === "failed") tiles.delete(key);
  draw();
}

function head() { return state.info.versions.find((v) => v.head); }
const headNumber = () => (state.info.versions.length ? head().number : 0);

// ---- drawing ------------------------------------------------------------------------

function resize() {
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(canvas.clientWidth * ratio);
  canvas.height = Math.round(canvas.clientHeight * ratio);
  maskLayer.width = canvas.width;
  maskLayer.height = canvas.height;
  draw();
}

function fit() {
  if (!state.info) return;
  const { width, height } = state.info;
  state.scale = Math.min(canvas.clientWidth / width, canvas.clientHeight / height) * 0.96;
  state.ox = width / 2 - canvas.clientWidth / 2 / state.scale;
  state.oy = height / 2 - canvas.clientHeight / 2 / state.scale;
  draw();
}

function zoomAt(factor, sx, sy) {
  const before = toImage(sx, sy);
  state.scale = Math.min(64, Math.max(1 / 4096, state.scale * factor));
  state.ox = before[0] - sx / state.scale;
  state.oy = before[1] - sy / state.scale;
  draw();
}

const toImage = (sx, sy) => [state.ox + sx / state.scale, state.oy + sy / state.scale];
const toScreen = (x, y) => [(x - state.ox) * state.scale, (y - state.oy) * state.scale];

// Where a layer's pixels land: the current version's are the view's own coordinates; the
// original (before an upscale, say) is stretched by the ratio of the widths.
function geometry(version) {
  const original = state.info.original;
  const own = version === 0 && original && original.width !== state.info.width ? original : state.info;
  return { ...own, factor: state.info.width / own.width };
}

function level(geom) {
  const z = Math.floor(Math.log2(1 / (state.scale * geom.factor)));
  return Math.max(0, Math.min(geom.levels - 1, z));
}

function tileKey(version, diff, z, x, y) { return `${state.name}|${version}|${diff}|${z}|${x}|${y}`; }

function requestTile(version, diff, z, x, y) {
  const key = tileKey(version, diff, z, x, y);
  if (tiles.has(key)) return tiles.get(key);
  tiles.set(key, "loading");
  const url = `/api/tile?${q(state.name)}&v=${version}${diff === null ? "" : `&diff=${diff}`}&z=${z}&x=${x}&y=${y}`;
  // As decoded: no colour conversion, so native scale shows the file's own values.
  api(url).then((r) => r.blob()).then((blob) => createImageBitmap(blob, {
    colorSpaceConversion: "none", premultiplyAlpha: "none" })).then((bitmap) => {
    tiles.set(key, bitmap);
    while (tiles.size > MAX_TILES) tiles.delete(tiles.keys().next().value);
    scheduleDraw();
  }).catch((error) => { tiles.set(key, "failed"); if (diff !== null) fail(error); });
  return "loading";
}

// Draw one layer (a version, or the difference of two) at level z; returns whether every
// tile in view was there.
function drawLevel(version, diff, z, geom) {
  const span = TILE * 2 ** z; // in the layer's own pixels
  const f = geom.factor;
  const [x0, y0] = toImage(0, 0);
  const [x1, y1] = toImage(canvas.clientWidth, canvas.clientHeight);
  const columns = Math.ceil(geom.width / span), rows = Math.ceil(geom.height / span);
  let complete = true;
  for (let ty = Math.max(0, Math.floor(y0 / f / span)); ty <= Math.min(rows - 1, Math.floor(y1 / f / span)); ty++) {
    for (let tx = Math.max(0, Math.floor(x0 / f / span)); tx <= Math.min(columns - 1, Math.floor(x1 / f / span)); tx++) {
      const tile = requestTile(version, diff, z, tx, ty);
      if (tile instanceof ImageBitmap) {
        const [sx, sy] = toScreen(tx * span * f, ty * span * f);
        const size = 2 ** z * f * state.scale;
        ctx.drawImage(tile, sx, sy, tile.width * size, tile.height * size);
      } else complete = false;
    }
  }
  return complete;
}

function drawLayer(version, diff) {
  const geom = geometry(version);
  const z = level(geom);
  // Coarser levels first, as placeholders: the overview's are there from the start. Finer
  // ones are asked for once the server's pyramid is ready (until then they would wait,
  // holding the browser's few connections).
  const coarse = Math.min(geom.levels - 1, Math.max(z, geom.overview_level));
  if (coarse !== z) drawLevel(version, diff, coarse, geom);
  if (!geom.ready && z < coarse) return false;
  return drawLevel(version, diff, z, geom);
}

let drawPending = false;
function scheduleDraw() {
  if (drawPending) return;
  drawPending = true;
  requestAnimationFrame(() => { drawPending = false; draw(); });
}

function draw() {
  const ratio = window.devicePixelRatio || 1;
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, canvas.clientWidth, canvas.clientHeight);
  if (!state.info) return;
  ctx.imageSmoothingEnabled = state.scale < 1; // native pixels stay sharp when zoomed in
  const current = headNumber();
  let complete;
  if (state.view === "difference") {
    complete = drawLayer(current, 0);
  } else if (state.view === "split") {
    const at = canvas.clientWidth * $("split").value / 1000;
    complete = drawLayer(0, null);
    ctx.save();
    ctx.beginPath();
    ctx.rect(at, 0, canvas.clientWidth - at, canvas.clientHeight);
    ctx.clip();
    complete = drawLayer(current, null) && complete;
    ctx.restore();
    ctx.fillStyle = "#fff";
    ctx.fillRect(at - 1, 0, 2, canvas.clientHeight);
  } else {
    complete = drawLayer(current, null);
  }
  drawMask();
  $("zoom").textContent = `${(state.scale * 100).toPrecision(3)}%`;
  window.burnish.complete = complete;
  if (complete && !state.firstView) {
    state.firstView = true;
    window.burnish.timings.firstView = performance.now();
  }
}

function traceShape(target, shape, extra) {
  const s = state.scale;
  if (shape.kind === "stroke") {
    target.lineCap = target.lineJoin = "round";
    target.lineWidth = Math.max(1, (shape.size + 2 * extra) * s);
    target.beginPath();
    const [fx, fy] = toScreen(...shape.points[0]);
    target.moveTo(fx, fy);
    if (shape.points.length === 1) target.lineTo(fx + 0.01, fy);
    for (const point of shape.points.slice(1)) target.lineTo(...toScreen(...point));
    target.stroke();
    return;
  }
  target.beginPath();
  if (shape.kind === "box") {
    const [x, y, w, h] = shape.box;
    const [sx, sy] = toScreen(x, y);
    target.rect(sx, sy, w * s, h * s);
  } else {
    target.moveTo(...toScreen(...shape.points[0]));
    for (const point of shape.points.slice(1)) target.lineTo(...toScreen(...point));
    target.closePath();
  }
  target.fill("evenodd");
  if (extra > 0) { target.lineWidth = 2 * extra * s; target.lineJoin = "round"; target.stroke(); }
}

// The overlay: every shape drawn white on its own canvas (erasers cut it), then tinted and
// laid over the image. Grow and feather are previewed by widening and blurring it.
function drawMask() {
  const ratio = window.devicePixelRatio || 1;
  const preview = $("preview-grow").checked;
  const grow = preview ? Number($("dilate").value) : 0;
  const feather = preview ? Number($("feather").value) : 0;
  maskCtx.setTransform(ratio, 0, 0, ratio, 0, 0);
  maskCtx.clearRect(0, 0, canvas.clientWidth, canvas.clientHeight);
  const shapes = state.drawing ? [...state.shapes, state.drawing] : state.shapes;
  for (const shape of shapes) {
    maskCtx.globalCompositeOperation = shape.erase ? "destination-out" : "source-over";
    const soft = shape.kind === "stroke" ? (1 - shape.hardness) * shape.size * state.scale / 4 : 0;
    maskCtx.filter = soft > 0.3 ? `blur(${soft}px)` : "none";
    maskCtx.fillStyle = maskCtx.strokeStyle = "#fff";
    traceShape(maskCtx, shape, shape.erase ? 0 : grow);
  }
  maskCtx.filter = "none";
  maskCtx.globalCompositeOperation = "source-in";
  maskCtx.fillStyle = "rgb(255, 40, 110)";
  maskCtx.fillRect(0, 0, canvas.clientWidth, canvas.clientHeight);
  maskCtx.globalCompositeOperation = "source-over";
  ctx.save();
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.globalAlpha = 0.45;
  ctx.filter = feather * state.scale > 0.3 ? `blur(${feather * state.scale / 2}px)` : "none";
  ctx.drawImage(maskLayer, 0, 0);
  ctx.restore();
  if (state.polygon) {
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    state.polygon.forEach((point, i) => (i ? ctx.lineTo : ctx.moveTo).call(ctx, ...toScreen(...point)));
    if (state.pointer) ctx.lineTo(...toScreen(...state.pointer));
    ctx.stroke();
  }
}

// ---- the mask -----------------------------------------------------------------------

let maskSaved = Promise.resolve();
let maskTimer = null;
window.burnish.settled = () => maskSaved; // the mask as shown is the mask saved
function maskChanged() {
  state.redo = state.redo || [];
  showMaskState("saving…");
  draw();
  clearTimeout(maskTimer);
  maskSaved = new Promise((resolve) => {
    maskTimer = setTimeout(() => saveMask().then(resolve, (error) => { fail(error); resolve(); }), 150);
  });
}

async function saveMask() {
  const name = state.name;
  const saved = await sendJSON(`/api/mask?${q(name)}`, { shapes: state.shapes }, "PUT");
  if (name === state.name) showMaskState(`${saved.pixels.toLocaleString()} px in ${saved.mask_file}`);
}

function showMaskState(text) {
  $("mask-state").textContent = text || (state.shapes.length
    ? `${state.shapes.length} shape(s) in ${state.info.mask_file}` : "no mask painted");
}

function addShape(shape) {
  state.shapes.push(shape);
  state.redo = [];
  maskChanged();
}

function undoShape() {
  if (!state.shapes.length) return;
  state.redo.push(state.shapes.pop());
  maskChanged();
}

function redoShape() {
  if (!state.redo.length) return;
  state.shapes.push(state.redo.pop());
  maskChanged();
}

async function pickKey(x, y) {
  const px = Math.floor(x), py = Math.floor(y);
  if (px < 0 || py < 0 || px >= state.info.width || py >= state.info.height) return;
  const response = await api(`/api/tile?${q(state.name)}&v=${headNumber()}&z=0&x=${Math.floor(px / TILE)}&y=${Math.floor(py / TILE)}`);
  const bitmap = await createImageBitmap(await response.blob());
  const probe = new OffscreenCanvas(1, 1).getContext("2d");
  probe.drawImage(bitmap, px % TILE, py % TILE, 1, 1, 0, 0, 1, 1);
  const [r, g, b] = probe.getImageData(0, 0, 1, 1).data;
  state.key = "#" + [r, g, b].map((c) => c.toString(16).padStart(2, "0")).join("");
  $("key-row").hidden = false;
  $("key-value").textContent = state.key;
  $("key-swatch").style.background = state.key;
}

// ---- pointer and wheel --------------------------------------------------------------

function eventPoint(event) {
  const box = canvas.getBoundingClientRect();
  return [event.clientX - box.left, event.clientY - box.top];
}

canvas.addEventListener("wheel", (event) => {
  event.preventDefault();
  if (!state.info) return;
  zoomAt(Math.pow(1.2, -event.deltaY / 100), ...eventPoint(event));
}, { passive: false });

canvas.addEventListener("pointerdown", (event) => {
  if (!state.info) return;
  canvas.setPointerCapture(event.pointerId);
  const [sx, sy] = eventPoint(event);
  const [x, y] = toImage(sx, sy);
  const tool = state.spaceHeld || event.button === 1 ? "pan" : state.tool;
  if (tool === "pan") state.pan = { sx, sy, ox: state.ox, oy: state.oy };
  else if (tool === "brush" || tool === "eraser") {
    state.drawing = { kind: "stroke", points: [[round(x), round(y)]], size: Number($("size").value),
      hardness: Number($("hardness").value) / 100, erase: tool === "eraser" };
    draw();
  } else if (tool === "box") state.drawing = { kind: "box", box: [round(x), round(y), 0, 0], start: [x, y] };
  else if (tool === "polygon") {
    state.polygon = state.polygon || [];
    state.polygon.push([round(x), round(y)]);
    draw();
  } else if (tool === "key") pickKey(x, y).catch(fail);
});

const round = (v) => Math.round(v * 100) / 100;

canvas.addEventListener("pointermove", (event) => {
  if (!state.info) return;
  const [sx, sy] = eventPoint(event);
  const [x, y] = toImage(sx, sy);
  state.pointer = [x, y];
  $("where").textContent = `${Math.floor(x)}, ${Math.floor(y)}`;
  if (state.pan) {
    state.ox = state.pan.ox - (sx - state.pan.sx) / state.scale;
    state.oy = state.pan.oy - (sy - state.pan.sy) / state.scale;
    scheduleDraw();
  } else if (state.drawing && state.drawing.kind === "stroke") {
    const last = state.drawing.points[state.drawing.points.length - 1];
    if (Math.hypot(x - last[0], y - last[1]) >= Math.max(0.5, state.drawing.size / 8)) {
      state.drawing.points.push([round(x), round(y)]);
      scheduleDraw();
    }
  } else if (state.drawing && state.drawing.kind === "box") {
    const [x0, y0] = state.drawing.start;
    state.drawing.box = [round(Math.min(x0, x)), round(Math.min(y0, y)), round(Math.abs(x - x0)), round(Math.abs(y - y0))];
    scheduleDraw();
  } else if (state.polygon) scheduleDraw();
});

canvas.addEventListener("pointerup", () => {
  state.pan = null;
  const shape = state.drawing;
  state.drawing = null;
  if (!shape) return;
  if (shape.kind === "box") {
    delete shape.start;
    if (shape.box[2] < 1 || shape.box[3] < 1) { draw(); return; }
  }
  addShape(shape);
});

canvas.addEventListener("dblclick", () => closePolygon());

function closePolygon() {
  const points = state.polygon;
  state.polygon = null;
  if (points && points.length >= 3) addShape({ kind: "polygon", points });
  else draw();
}

// ---- steps, history and delivery ----------------------------------------------------

function busy(on, text = "") {
  state.busy = on;
  for (const id of ["run-remove", "run-adjust", "run-upscale", "undo-step", "approve", "save-recipe"]) $(id).disabled = on;
  $("progress").hidden = !on;
  $("progress-text").textContent = text;
}

function showProgress(job) {
  const { done, total } = job.progress;
  const bar = $("progress");
  if (total) { bar.max = total; bar.value = done; } else bar.removeAttribute("value");
  $("progress-text").textContent = total ? `step ${done} of ${total}` : done ? `${done} tiles` : job.status;
}

function keyParams() {
  return state.key ? { key: state.key, key_tolerance: Number($("key-tolerance").value) } : {};
}

async function runStep(op, params, useMask) {
  if (!state.name || state.busy) return;
  busy(true, "starting…");
  try {
    await maskSaved;
    const job = await sendJSON("/api/step", { name: state.name, op, params, use_mask: useMask });
    say(job.step);
    const done = await followJob(job, showProgress);
    tiles.clear();
    await refresh();
    say(`v${headNumber()}: ${done.note || op}`);
  } catch (error) { fail(error); } finally { busy(false); }
}

function removeStep() {
  const params = Object.assign({ method: $("remove-method").value, dilate: Number($("dilate").value),
    feather: Number($("feather").value) }, keyParams());
  if ($("remove-alpha").checked) params.alpha = true;
  if ($("remove-text").checked) params.detect = "text";
  if (!state.shapes.length && !state.key && !params.alpha && !params.detect) {
    say("paint a mask (or pick a key colour, or remove the transparent pixels or text) first", true);
    return;
  }
  runStep("remove", params, state.shapes.length > 0);
}

function adjustStep() {
  const params = {};
  for (const [id, neutral] of [["exposure", 0], ["contrast", 1], ["saturation", 1], ["temperature", 0]]) {
    const value = Number($(id).value);
    if (value !== neutral) params[id] = value;
  }
  const masked = $("adjust-masked").checked;
  if (masked) Object.assign(params, { feather: Number($("feather").value) }, keyParams());
  runStep("adjust", params, masked && state.shapes.length > 0);
}

function upscaleStep() {
  runStep("upscale", { scale: Number($("upscale-scale").value), model: $("upscale-model").value }, false);
}

function showHistory() {
  const list = $("history");
  list.replaceChildren();
  for (const version of state.info.versions) {
    const item = document.createElement("li");
    item.value = version.number;
    item.className = version.head ? "head" : version.in_result ? "" : "out";
    item.textContent = `${version.summary}${version.head ? " (current)" : ""}`;
    item.title = `${version.created} · ${version.seconds.toFixed(1)} s`;
    if (!version.head) {
      const button = document.createElement("button");
      button.textContent = "revert";
      button.title = `Make v${version.number} current again`;
      button.dataset.revert = version.number;
      item.append(button);
    }
    list.append(item);
  }
  if (!state.info.versions.length) list.textContent = "no steps yet";
}

async function historyAction(path, body, text) {
  if (!state.name || state.busy) return;
  busy(true, text);
  try {
    const version = await sendJSON(path, Object.assign({ name: state.name }, body));
    tiles.clear();
    await refresh();
    say(`v${version.number}: ${version.summary}`);
  } catch (error) { fail(error); } finally { busy(false); }
}

async function approve() {
  if (!state.name || state.busy) return;
  busy(true, "approving…");
  try {
    const job = await sendJSON("/api/approve", { name: state.name });
    const done = await followJob(job, showProgress);
    $("deliver-state").textContent = `approved: ${done.note}`;
    say(`approved: ${done.note} written with its sidecar`);
  } catch (error) { fail(error); } finally { busy(false); }
}

async function saveRecipe() {
  if (!state.name || state.busy) return;
  try {
    const saved = await sendJSON("/api/recipe", { name: state.name, recipe: $("recipe-name").value });
    $("deliver-state").textContent = `recipe: ${saved.recipe}`;
    say(`saved ${saved.recipe}: burnish run ${saved.recipe} IMAGES -o OUT`);
  } catch (error) { fail(error); }
}

// ---- controls and keys --------------------------------------------------------------

function setTool(tool) {
  state.tool = tool;
  if (tool !== "polygon") state.polygon = null;
  for (const button of document.querySelectorAll("[data-tool]")) button.classList.toggle("on", button.dataset.tool === tool);
  canvas.style.cursor = tool === "pan" ? "grab" : "crosshair";
  draw();
}

function setView(view) {
  state.view = view;
  for (const button of document.querySelectorAll("[data-view]")) button.classList.toggle("on", button.dataset.view === view);
  $("split").hidden = view !== "split";
  draw();
}

for (const button of document.querySelectorAll("[data-tool]")) button.onclick = () => setTool(button.dataset.tool);
for (const button of document.querySelectorAll("[data-view]")) button.onclick = () => setView(button.dataset.view);
for (const id of ["size", "hardness", "dilate", "feather", "key-tolerance"]) {
  $(id).oninput = () => {
    $(`${id}-out`).textContent = id === "hardness" ? (Number($(id).value) / 100).toFixed(2) : $(id).value;
    draw();
  };
}
$("preview-grow").onchange = draw;
$("split").oninput = draw;
$("fit").onclick = fit;
$("native").onclick = () => zoomAt(1 / state.scale, canvas.clientWidth / 2, canvas.clientHeight / 2);
$("stroke-undo").onclick = undoShape;
$("stroke-redo").onclick = redoShape;
$("mask-clear").onclick = () => { if (state.shapes.length) { state.redo = []; state.shapes = []; maskChanged(); } };
$("key-clear").onclick = () => { state.key = null; $("key-row").hidden = true; };
$("run-remove").onclick = removeStep;
$("run-adjust").onclick = adjustStep;
$("run-upscale").onclick = upscaleStep;
$("undo-step").onclick = () => historyAction("/api/undo", {}, "undoing…");
$("history").onclick = (event) => {
  const to = event.target.dataset && event.target.dataset.revert;
  if (to !== undefined) historyAction("/api/revert", { to: Number(to) }, "reverting…");
};
$("approve").onclick = approve;
$("save-recipe").onclick = saveRecipe;
$("images").onchange = () => { if ($("images").value) openImage($("images").value).catch(fail); };
$("upload").onchange = async () => {
  const file = $("upload").files[0];
  if (!file) return;
  try {
    const form = new FormData();
    form.append("image", file, file.name);
    const saved = await (await api("/api/upload", { method: "POST", body: form })).json();
    await loadWorkspace(saved.name);
    await openImage(saved.name);
    say(`uploaded as ${saved.name}`);
  } catch (error) { fail(error); } finally { $("upload").value = ""; }
};

const KEYS = {
  b: () => setTool("brush"), e: () => setTool("eraser"), r: () => setTool("box"),
  p: () => setTool("polygon"), k: () => setTool("key"), h: () => setTool("pan"),
  x: removeStep, u: () => historyAction("/api/undo", {}, "undoing…"), a: approve,
  f: fit, "1": () => $("native").click(),
  c: () => setView({ result: "split", split: "difference", difference: "result" }[state.view]),
  "[": () => { $("size").value = Math.max(1, Number($("size").value) / 1.25); $("size").oninput(); },
  "]": () => { $("size").value = Number($("size").value) * 1.25; $("size").oninput(); },
  Enter: closePolygon, Escape: () => { state.polygon = null; state.drawing = null; draw(); },
};

window.addEventListener("keydown", (event) => {
  if (event.target instanceof HTMLInputElement && event.target.type !== "range" && event.target.type !== "checkbox") return;
  if (event.target instanceof HTMLSelectElement) return;
  if (event.key === " ") { state.spaceHeld = true; canvas.style.cursor = "grab"; event.preventDefault(); return; }
  if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "z") {
    event.preventDefault();
    (event.shiftKey ? redoShape : undoShape)();
    return;
  }
  if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "y") { event.preventDefault(); redoShape(); return; }
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const action = KEYS[event.key] || KEYS[event.key.toLowerCase()];
  if (action && state.info) { event.preventDefault(); action(); }
});
window.addEventListener("keyup", (event) => {
  if (event.key === " ") { state.spaceHeld = false; setTool(state.tool); }
});
window.addEventListener("resize", resize);

// ---- start --------------------------------------------------------------------------

(async () => {
  resize();
  setTool("brush");
  try {
    const wanted = new URLSearchParams(location.hash.slice(1)).get("image");
    await loadWorkspace(wanted);
    if (wanted) await openImage(wanted);
  } catch (error) { fail(error); }
})();
