// The regulator's dashboard (http-api.md: GET /dashboard/). Plain script, no build step.
// The token comes from the login field or the URL fragment `#token=` (a fragment never reaches
// a server, so no access log holds it); it is kept in this tab's sessionStorage only, removed
// from the address bar at once, sent only as `Authorization: Bearer`, and never logged.
// Every value from the API is put on the page as text (textContent), never as HTML.
"use strict";

(function () {
  const API = "/api/v1";
  const TOKEN_KEY = "kopnet.dashboard.token";
  const FLAGS = ["active", "rat_compliant", "reporting_online", "healthy"];
  const LABELS = {
    registered: "Terdaftar (registered)",
    active: "Aktif (active)",
    rat_compliant: "Patuh RAT (RAT-compliant)",
    reporting_online: "Melapor online (reporting online)",
    healthy: "Sehat (healthy)",
  };
  const REASONS = {inactive: "tidak aktif (inactive)", "no RAT": "tanpa RAT (no RAT)",
                   unhealthy: "tidak sehat (unhealthy)"};
  const CATEGORIES = ["sehat", "cukup sehat", "dalam pengawasan", "dalam pengawasan khusus"];
  const ASPECTS = {
    capital: "Permodalan (capital)",
    asset_quality: "Kualitas aktiva produktif (asset quality)",
    management: "Manajemen (management)",
    efficiency: "Efisiensi (efficiency)",
    liquidity: "Likuiditas (liquidity)",
    independence_growth: "Kemandirian dan pertumbuhan (independence, growth)",
    identity: "Jatidiri koperasi (identity)",
    syariah_compliance: "Kepatuhan syariah (syariah compliance)",
  };
  const MONTH_SERIES = {
    business_entries: "Transaksi usaha (business entries)",
    active_cooperatives: "Koperasi aktif (active cooperatives)",
    reports: "Laporan (reports)",
    rats: "RAT",
    orders_settled: "Pesanan katalog (orders settled)",
    financing_disbursed: "Pembiayaan cair (financing disbursed)",
  };
  const CATALOG = {products_listed: "Produk terdaftar (products listed)",
                   orders_settled: "Pesanan selesai (orders settled)", order_value: "Nilai pesanan (order value)"};
  const FINANCING = {contracts_disbursed: "Akad dicairkan (contracts disbursed)",
                     disbursed_amount: "Jumlah dicairkan (disbursed amount)",
                     payments: "Pembayaran (payments)", late_instalments: "Angsuran terlambat (late instalments)",
                     contracts_settled: "Akad lunas (contracts settled)",
                     contracts_written_off: "Akad dihapusbukukan (written off)"};
  const MONEY = new Set(["order_value", "disbursed_amount"]);
  const COLORS = ["#1b5e9e", "#2e7d32", "#c77700", "#6a3d9a", "#b23a48", "#00838f"];
  const number = new Intl.NumberFormat("id-ID");
  const charts = {};

  const $ = (id) => document.getElementById(id);

  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value !== undefined && value !== null && value !== false) node.setAttribute(name, value);
    }
    for (const child of children.flat(Infinity)) {
      if (child !== undefined && child !== null) {
        node.append(child instanceof Node ? child : String(child));
      }
    }
    return node;
  }

  const rupiah = (value) => "Rp " + number.format(value);
  const fmt = (key, value) => (MONEY.has(key) ? rupiah(value) : number.format(value));
  const yesNo = (value) => (value ? "Ya (yes)" : "Tidak (no)");

  function regencyName(slug) {
    const words = String(slug).split("-").map((w) => w.charAt(0).toUpperCase() + w.slice(1));
    return words.join(" ");
  }

  function shortRegency(slug) {
    return regencyName(slug).replace(/^Kabupaten /, "Kab. ");
  }

  function coopLink(row) {
    return el("a", {href: "#/cooperatives/" + encodeURIComponent(row.cooperative_id)}, row.name);
  }

  // A table in a container of its own that scrolls sideways on a narrow screen (keyboard too).
  function table(caption, headers, rows, options) {
    const numeric = new Set((options && options.numeric) || []);
    const head = el("tr", {}, headers.map((h) => el("th", {scope: "col"}, h)));
    const body = rows.map((cells) => el("tr", {}, cells.map((cell, i) =>
      i === 0 ? el("th", {scope: "row"}, cell) : el("td", {class: numeric.has(i) ? "num" : null}, cell))));
    const wrap = el("div", {class: "table-wrap", tabindex: "0", role: "region", "aria-label": caption},
      el("table", {}, el("caption", {}, caption), el("thead", {}, head), el("tbody", {}, body)));
    if (!rows.length) {
      wrap.querySelector("tbody").append(el("tr", {}, el("td", {colspan: String(headers.length)},
        "Tidak ada data (none)")));
    }
    return wrap;
  }

  // A chart's data as a table, folded under the chart (open it, or let a screen reader read it).
  function chartTable(target, caption, headers, rows, numeric) {
    const details = el("details", {class: "data"}, el("summary", {}, "Tabel data: " + caption),
      table(caption, headers, rows, {numeric}));
    $(target).replaceChildren(details);
  }

  function chart(id, config, description) {
    if (charts[id]) charts[id].destroy();
    const canvas = $(id);
    canvas.setAttribute("aria-label", description + " (lihat tabel data di bawah / see the data table below)");
    if (typeof Chart === "undefined") return;  // the library failed to load: the tables still tell all
    config.options = Object.assign({responsive: true, maintainAspectRatio: false, animation: false},
                                   config.options || {});
    charts[id] = new Chart(canvas, config);
  }

  // -- token --------------------------------------------------------------------------------------
  function takeTokenFromFragment() {
    const match = /^#token=([^&]+)/.exec(window.location.hash);
    if (match) {
      sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
      // out of the address bar and the history at once (screenshots, shoulder surfing, back button)
      history.replaceState(null, "", window.location.pathname + "#/");
    }
  }

  const token = () => sessionStorage.getItem(TOKEN_KEY);

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(path) {
    const response = await fetch(API + path, {headers: {Authorization: "Bearer " + token(),
                                                        Accept: "application/json"}, cache: "no-store"});
    let body = null;
    try {
      body = await response.json();
    } catch (ignored) {
      body = null;
    }
    if (!response.ok) {
      const message = body && body.error ? body.error.code + ": " + body.error.message : "HTTP " + response.status;
      throw new ApiError(response.status, message);
    }
    return body;
  }

  function showLogin(message) {
    for (const id of ["overview", "cooperative"]) $(id).hidden = true;
    $("login").hidden = false;
    $("sign-out").hidden = true;
    $("login-error").textContent = message || "";
    $("status").textContent = "";
    $("token-input").focus();
  }

  function failed(error) {
    if (error.status === 401 || error.status === 403) {
      sessionStorage.removeItem(TOKEN_KEY);
      showLogin(error.status === 401
        ? "Token tidak berlaku atau kedaluwarsa (401 unauthenticated). Masukkan token baru."
        : "Token ini bukan network_admin (403 forbidden).");
    } else {
      $("status").textContent = "Gagal memuat data / could not load: " + error.message;
    }
  }

  // -- overview -----------------------------------------------------------------------------------
  function lastTwelveMonths(asOf, months) {
    const byMonth = Object.fromEntries(months.map((m) => [m.month, m]));
    const end = new Date(asOf + "T00:00:00Z");
    const list = [];
    for (let back = 11; back >= 0; back -= 1) {
      const day = new Date(Date.UTC(end.getUTCFullYear(), end.getUTCMonth() - back, 1));
      const key = day.toISOString().slice(0, 7);
      list.push(byMonth[key] || Object.assign({month: key}, ...Object.keys(MONTH_SERIES).map((k) => ({[k]: 0}))));
    }
    return list;
  }

  function renderProvince(data) {
    document.querySelector('[data-field="as_of"]').textContent = data.as_of;
    const tiles = ["registered", ...FLAGS].map((key) => el("li", {class: "tile"},
      el("span", {class: "value", "data-field": key}, number.format(data.province[key])),
      el("span", {class: "label"}, LABELS[key])));
    $("province-tiles").replaceChildren(...tiles);
    const target = data.target;
    $("target-progress").value = target.progress_percent;
    $("target-progress").setAttribute("aria-valuetext", target.progress_percent + "%");
    $("target-text").replaceChildren(
      el("strong", {"data-field": "progress_percent"}, target.progress_percent + "%"),
      ` dari target: ${number.format(target.reporting_online)} dari ${number.format(target.cooperatives)} ` +
      `koperasi (${target.percent}% dari yang terdaftar) melapor online.`);
  }

  function renderCategories(data) {
    const counts = CATEGORIES.map((name) => data.categories[name] || 0);
    chart("categories-chart", {type: "bar", data: {labels: CATEGORIES, datasets: [
      {label: "Koperasi (cooperatives)", data: counts, backgroundColor: ["#2e7d32", "#7cb342", "#f9a825", "#c62828"]}]},
      options: {plugins: {legend: {display: false}}, scales: {y: {beginAtZero: true, ticks: {precision: 0}}}}},
      "Jumlah koperasi per kategori skor kesehatan");
    chartTable("categories-table", "koperasi per kategori", ["Kategori (category)", "Koperasi"],
      CATEGORIES.map((name, i) => [name, number.format(counts[i])]), [1]);
  }

  function renderRegencies(data) {
    const keys = ["registered", "active", "healthy"];  // all five are in the table below
    chart("regencies-chart", {type: "bar", data: {
      labels: data.regencies.map((r) => shortRegency(r.regency)),
      datasets: keys.map((key, i) => ({label: LABELS[key], data: data.regencies.map((r) => r[key]),
                                       backgroundColor: COLORS[i], categoryPercentage: 0.9, barPercentage: 1}))},
    options: {indexAxis: "y", scales: {x: {beginAtZero: true, ticks: {precision: 0}},
                                       y: {ticks: {autoSkip: false, font: {size: 11}}}},
              plugins: {legend: {position: "top"}}}},
    "Koperasi per kabupaten/kota: terdaftar, aktif, sehat");
    chartTable("regencies-table", "per kabupaten/kota",
      ["Kabupaten/kota (regency)", ...["registered", ...FLAGS].map((k) => LABELS[k])],
      data.regencies.map((r) => [regencyName(r.regency), ...["registered", ...FLAGS].map((k) => number.format(r[k]))]),
      [1, 2, 3, 4, 5]);
  }

  function renderMonths(data) {
    const months = lastTwelveMonths(data.as_of, data.months);
    const keys = Object.keys(MONTH_SERIES);
    chart("months-chart", {type: "line", data: {labels: months.map((m) => m.month),
      datasets: keys.map((key, i) => ({label: MONTH_SERIES[key], data: months.map((m) => m[key] || 0),
                                       borderColor: COLORS[i], backgroundColor: COLORS[i]}))},
    options: {scales: {y: {beginAtZero: true, ticks: {precision: 0}}}, plugins: {legend: {position: "bottom"}}}},
    "Tren bulanan selama 12 bulan terakhir");
    chartTable("months-table", "tren 12 bulan", ["Bulan (month)", ...keys.map((k) => MONTH_SERIES[k])],
      months.map((m) => [m.month, ...keys.map((k) => number.format(m[k] || 0))]), [1, 2, 3, 4, 5, 6]);
  }

  function rowCells(row) {
    return [coopLink(row), regencyName(row.regency), row.kind, number.format(row.score), row.category];
  }

  function renderLists(data) {
    $("follow-up-table").replaceChildren(table("koperasi yang perlu tindak lanjut",
      ["Koperasi", "Kabupaten/kota", "Jenis (kind)", "Skor", "Kategori", "Alasan (reasons)"],
      data.follow_up.map((row) => [...rowCells(row), row.reasons.map((r) => REASONS[r] || r).join(", ")]), {numeric: [3]}));
    chart("best-chart", {type: "bar", data: {labels: data.best.map((row) => row.name),
      datasets: [{label: "Skor (score)", data: data.best.map((row) => row.score), backgroundColor: COLORS[1]}]},
    options: {indexAxis: "y", plugins: {legend: {display: false}},
              scales: {x: {min: 0, max: 100}, y: {ticks: {autoSkip: false, font: {size: 11}}}}}},
    "Sepuluh skor kesehatan terbaik");
    $("best-table").replaceChildren(table("sepuluh skor terbaik",
      ["Peringkat (rank)", "Koperasi", "Kabupaten/kota", "Jenis (kind)", "Skor", "Kategori"],
      data.best.map((row, i) => [String(i + 1), ...rowCells(row)]), {numeric: [4]}));
  }

  function renderActivity(data) {
    const rows = (labels, values) => Object.keys(labels).map((k) => [labels[k], fmt(k, values[k] || 0)]);
    $("catalog-table").replaceChildren(table("Katalog (catalog)", ["Katalog", "Jumlah"], rows(CATALOG, data.catalog),
                                             {numeric: [1]}));
    $("financing-table").replaceChildren(table("Pembiayaan (financing)", ["Pembiayaan", "Jumlah"],
                                               rows(FINANCING, data.financing), {numeric: [1]}));
  }

  async function showOverview() {
    const data = await api("/network/dashboard");
    renderProvince(data);
    renderCategories(data);
    renderRegencies(data);
    renderMonths(data);
    renderLists(data);
    renderActivity(data);
    $("cooperative").hidden = true;
    $("overview").hidden = false;
    document.title = "Dasbor Dinas Koperasi — kopnet";
  }

  // -- a cooperative -------------------------------------------------------------------------------
  function evidenceValue(value) {
    if (value === null || value === undefined) return "—";
    if (typeof value === "boolean") return yesNo(value);
    if (typeof value === "object") {
      return Object.entries(value).map(([k, v]) => k + ": " + (v === null ? "—" : v)).join(", ");
    }
    return String(value);
  }

  function flagCard(name, value, evidence) {
    const facts = Object.entries(evidence || {}).filter(([key]) => key !== "rule").map(([key, v]) =>
      [el("dt", {}, key), el("dd", {}, evidenceValue(v))]);
    return el("article", {class: "flag " + (value ? "yes" : "no"), "data-flag": name},
      el("h3", {}, el("span", {class: "mark", "aria-hidden": "true"}, value ? "✓" : "✗"), " ", LABELS[name], ": ",
         el("span", {class: "answer"}, yesNo(value))),
      evidence && evidence.rule ? el("p", {class: "rule"}, "Aturan (rule): " + evidence.rule) : null,
      facts.length ? el("dl", {}, facts) : null);
  }

  const percent = (bp) => (bp === null || bp === undefined ? "—" : (bp / 100).toFixed(2).replace(".", ",") + "%");

  async function showCooperative(id) {
    const health = await api("/cooperatives/" + encodeURIComponent(id) + "/health");
    $("coop-title").textContent = health.name;
    $("coop-profile").textContent = `${regencyName(health.regency)} · ${health.kind} · status ${health.status} · ` +
      `per tanggal ${health.as_of} · id ${health.cooperative_id}`;
    $("coop-score").textContent = String(health.score.score);
    $("coop-category").textContent = "Kategori (category): " + health.score.category;
    $("coop-flags").replaceChildren(...FLAGS.map((f) => flagCard(f, health.flags[f], health.evidence[f])));
    const names = Object.keys(health.score.aspects);
    const aspects = names.map((n) => health.score.aspects[n]);
    chart("aspects-chart", {type: "bar", data: {labels: names.map((n) => ASPECTS[n] || n),
      datasets: [{label: "Skor aspek (0–100)", data: aspects.map((a) => a.score), backgroundColor: COLORS[0]}]},
    options: {indexAxis: "y", plugins: {legend: {display: false}}, scales: {x: {min: 0, max: 100}}}},
    "Skor per aspek " + health.name);
    $("aspects-table").replaceChildren(table("skor per aspek",
      ["Aspek (aspect)", "Rasio (ratio)", "Skor (score)", "Bobot (weight)", "Nilai (points)"],
      names.map((n, i) => [ASPECTS[n] || n, percent(aspects[i].ratio_bp), number.format(aspects[i].score),
                           number.format(aspects[i].weight), number.format(aspects[i].points)]), {numeric: [1, 2, 3, 4]}));
    const inputs = health.score.inputs || {};
    const money = Object.entries(inputs.balances || {}).map(([k, v]) => ["saldo " + k, rupiah(v)])
      .concat(Object.entries(inputs.last_12_months || {}).map(([k, v]) => [k + " (12 bulan)", rupiah(v)]))
      .concat([["pembiayaan outstanding", rupiah(inputs.financing_outstanding || 0)],
               ["pembiayaan menunggak (overdue)", rupiah(inputs.financing_overdue || 0)]]);
    $("inputs-table").replaceChildren(table("data yang dipakai skor (score inputs)", ["Data", "Jumlah"], money,
                                            {numeric: [1]}));
    $("overview").hidden = true;
    $("cooperative").hidden = false;
    document.title = health.name + " — Dasbor Dinas Koperasi";
  }

  // -- routing --------------------------------------------------------------------------------------
  async function route() {
    takeTokenFromFragment();
    delete document.body.dataset.view;  // set again once this view's data is on the page
    if (!token()) {
      showLogin("");
      return;
    }
    $("login").hidden = true;
    $("sign-out").hidden = false;
    $("status").textContent = "Memuat… / loading…";
    const match = /^#\/cooperatives\/([^/]+)$/.exec(window.location.hash);
    try {
      if (match) {
        await showCooperative(decodeURIComponent(match[1]));
      } else {
        await showOverview();
      }
      $("status").textContent = "";
      document.body.dataset.view = match ? "cooperative" : "overview";
      $("main").focus({preventScroll: true});
    } catch (error) {
      failed(error);
    }
  }

  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("token-input").value.trim();
    $("token-input").value = "";
    if (value) {
      sessionStorage.setItem(TOKEN_KEY, value);
      route();
    }
  });
  $("sign-out").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    delete document.body.dataset.view;
    showLogin("Anda telah keluar (signed out).");
  });
  window.addEventListener("hashchange", route);
  route();
})();
