// TMCA viewer page: plain JS, no build step. Every request carries the session token.
"use strict";
const TOKEN = window.TMCA_TOKEN;
const $ = (id) => document.getElementById(id);
const state = { caseId: null, original: null, slice: 0, slices: 1, busy: false, generation: 0 };

async function api(path, body) {
  const options = { headers: { "X-Viewer-Token": TOKEN } };
  if (body !== undefined) {
    options.method = "POST";
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  const data = await response.json().catch(() => ({ error: response.statusText }));
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function scoreText(score) { return score === null || score === undefined ? "…" : score.toFixed(2); }

async function loadCases() {
  const data = await api("/api/cases");
  const list = $("case-list");
  list.innerHTML = "";
  for (const row of data.cases) {
    const li = document.createElement("li");
    li.dataset.case = row.id;
    li.title = row.flags.join(", ") || (row.has_report ? "" : "no report");
    const name = document.createElement("span");
    name.textContent = row.id;
    const score = document.createElement("span");
    score.className = "score" + (row.score !== null && row.score < 0.5 ? " low" : "");
    score.textContent = row.has_report ? scoreText(row.score) : "no report";
    li.append(name, score);
    if (row.id === state.caseId) li.classList.add("selected");
    li.addEventListener("click", () => openCase(row.id));
    list.append(li);
  }
  const s = data.scoring;
  $("scoring").textContent = s.done < s.total ? `scoring cases with their reports: ${s.done}/${s.total}` : "";
  if (s.done < s.total) setTimeout(loadCases, 1500);
}

async function openCase(caseId) {
  const info = await api(`/api/case/${encodeURIComponent(caseId)}`);
  state.caseId = caseId;
  state.original = info.report;
  $("case").hidden = false;
  $("case-title").textContent = caseId;
  $("report").value = info.report || "";
  document.querySelectorAll("#case-list li").forEach((li) => li.classList.toggle("selected", li.dataset.case === caseId));
  await segment(info.report);
}

function showSentences(sentences) {
  const box = $("sentences");
  box.innerHTML = "";
  sentences.forEach((s) => {
    const span = document.createElement("span");
    span.className = "sentence";
    span.dataset.index = s.index;
    span.title = `sentence ${s.index}: relevance ${s.relevance.toFixed(2)}`;
    span.style.background = `rgba(255, 170, 0, ${Math.min(1, 0.1 + 1.6 * s.relevance).toFixed(2)})`;
    span.textContent = s.text;
    const drop = document.createElement("button");
    drop.className = "drop";
    drop.textContent = "\u2715";
    drop.title = `drop sentence ${s.index} and re-segment`;
    drop.addEventListener("click", () => {
      const rest = sentences.filter((t) => t.index !== s.index).map((t) => t.text).join(" ");
      $("report").value = rest;
      segment(rest || null);
    });
    box.append(span, drop, document.createTextNode(" "));
  });
}

function showAgreement(record) {
  const box = $("agreement");
  if (!record) { box.textContent = ""; return; }
  box.innerHTML = "";
  const line = document.createElement("div");
  line.innerHTML = `agreement score: <b id="score">${record.score === null ? "none (no report)" : record.score.toFixed(2)}</b>`;
  box.append(line);
  for (const flag of record.flags) {
    const f = document.createElement("span");
    f.className = "flag";
    f.textContent = flag;
    box.append(f);
  }
}

async function showSlice(k) {
  const layers = await api(`/api/layers/${encodeURIComponent(state.caseId)}/${k}`);
  state.slice = k;
  $("layer-image").src = layers.image;
  for (const name of ["mask", "reference", "map"]) {
    const img = $(`layer-${name}`);
    if (layers[name]) img.src = layers[name]; else img.removeAttribute("src");
  }
  $("layer-mask").dataset.generation = state.generation;
  $("slice-number").textContent = `${k + 1} / ${state.slices}`;
  applyVisibility();
}

function applyVisibility() {
  $("layer-mask").style.visibility = $("show-mask").checked ? "visible" : "hidden";
  $("layer-reference").style.visibility = $("show-reference").checked ? "visible" : "hidden";
  $("layer-map").style.visibility = $("show-map").checked ? "visible" : "hidden";
}

async function segment(report) {
  if (state.busy) return;
  state.busy = true;
  const started = performance.now();
  $("progress").hidden = false;
  const timer = setInterval(() => { $("elapsed").textContent = `segmenting… ${((performance.now() - started) / 1000).toFixed(1)} s`; }, 100);
  document.querySelectorAll("#buttons button").forEach((b) => (b.disabled = true));
  try {
    const result = await api("/api/segment", { case: state.caseId, report: report });
    state.generation += 1;
    state.slices = result.slices;
    $("slice-box").hidden = result.slices <= 1;
    $("slice").max = result.slices - 1;
    $("slice").value = result.slice;
    showSentences(result.sentences);
    showAgreement(result.agreement);
    await showSlice(result.slice);
    $("status").textContent = `${report ? "with the report" : "with no report"}: ${result.foreground_voxels} foreground ` +
      `pixels, ${result.seconds.toFixed(2)} s`;
  } catch (e) {
    $("status").textContent = `error: ${e.message}`;
  } finally {
    clearInterval(timer);
    $("progress").hidden = true;
    state.busy = false;
    document.querySelectorAll("#buttons button").forEach((b) => (b.disabled = false));
  }
}

$("resegment").addEventListener("click", () => segment($("report").value.trim() || null));
$("no-report").addEventListener("click", () => segment(null));
$("reset").addEventListener("click", () => { $("report").value = state.original || ""; segment(state.original); });
$("save").addEventListener("click", async () => {
  try {
    const r = await api("/api/save", { case: state.caseId, report: $("report").value });
    $("status").textContent = `saved to ${r.saved}`;
  } catch (e) { $("status").textContent = `error: ${e.message}`; }
});
$("slice").addEventListener("input", (e) => showSlice(parseInt(e.target.value, 10)));
for (const id of ["show-mask", "show-reference", "show-map"]) $(id).addEventListener("change", applyVisibility);
loadCases();
