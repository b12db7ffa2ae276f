/* The staff dashboard: fetches GET /api/v1/dashboard (the section's data-source) and draws
   its figures with Chart.js into the fragment's elements (templates/console/
   dashboard_content.html). Refreshes every minute; money arrives as decimal strings and is
   shown as such (only the charts' bar heights are numbers). */
(function () {
  "use strict";
  var REFRESH_MS = 60000;
  var COLOURS = {
    delivered: "#17803d", sent: "#4c9f70", pending: "#f0b429", sending: "#de911d",
    failed: "#c81e1e", undeliverable: "#8b1a1a", cancelled: "#9aa5b1", received: "#2680c2"
  };
  var charts = {};

  function el(id) { return document.getElementById(id); }

  function text(tag, value, className) {
    var node = document.createElement(tag);
    node.textContent = value;
    if (className) { node.className = className; }
    return node;
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) { return "—"; }
    if (seconds < 90) { return Math.round(seconds) + " s"; }
    if (seconds < 5400) { return Math.round(seconds / 60) + " min"; }
    return (seconds / 3600).toFixed(1) + " h";
  }

  function draw(id, config) {
    if (charts[id]) { charts[id].destroy(); }
    config.options = Object.assign({ responsive: true, maintainAspectRatio: false,
      animation: false }, config.options || {});
    charts[id] = new window.Chart(el(id), config);
  }

  function messages(data) {
    var datasets = data.series.map(function (s) {
      var colour = COLOURS[s.status] || "#52606d";
      return { label: s.channel + " · " + s.status, data: s.counts, stack: s.channel,
               backgroundColor: s.channel === "telegram" ? colour + "99" : colour };
    });
    draw("chart-messages", { type: "bar",
      data: { labels: data.days.map(function (d) { return d.slice(5); }), datasets: datasets },
      options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true,
        ticks: { precision: 0 } } }, plugins: { legend: { position: "right" } } } });
  }

  function queue(q) {
    var box = el("dashboard-queue");
    box.replaceChildren();
    [["Waiting now", q.waiting], ["Longest wait", duration(q.waiting_longest_seconds)],
     ["Median wait now", duration(q.waiting_median_seconds)],
     ["Answered (" + q.answered_days + " d)", q.answered],
     ["Median to answer", duration(q.answered_median_seconds)],
     ["p90 to answer", duration(q.answered_p90_seconds)]].forEach(function (pair) {
      var tile = text("div", pair[0], "tile");
      tile.prepend(text("b", String(pair[1])));
      box.appendChild(tile);
    });
  }

  function backlog(rows) {
    draw("chart-backlog", { type: "bar",
      data: { labels: rows.map(function (r) {
          return r.channel + " (oldest due " + duration(r.oldest_due_seconds) + ")"; }),
        datasets: [
          { label: "pending", data: rows.map(function (r) { return r.pending; }),
            backgroundColor: COLOURS.pending },
          { label: "due now", data: rows.map(function (r) { return r.due; }),
            backgroundColor: COLOURS.failed }] },
      options: { indexAxis: "y", scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } }
    });
  }

  function collection(rows) {
    draw("chart-collection", { type: "bar",
      data: { labels: rows.map(function (r) { return r.month; }),
        datasets: [{ label: "paid within terms (%)", backgroundColor: "#2680c2",
          data: rows.map(function (r) { return r.rate === null ? null : Number(r.rate) * 100; })
        }] },
      options: { scales: { y: { beginAtZero: true, max: 100 } },
        plugins: { tooltip: { callbacks: { afterLabel: function (item) {
          var r = rows[item.dataIndex];
          return r.paid_in_terms + " of " + r.billed + " (" + r.bills + " bills)"; } } } } }
    });
  }

  function ageing(a) {
    var labels = ["not due"].concat(a.buckets.map(function (b) { return b.days; }));
    var amounts = [a.not_due].concat(a.buckets.map(function (b) { return b.amount; }));
    draw("chart-ageing", { type: "bar",
      data: { labels: labels, datasets: [{ label: "amount owed",
        data: amounts.map(Number),
        backgroundColor: ["#9aa5b1", "#f0b429", "#de911d", "#c65d21", "#c81e1e"] }] },
      options: { plugins: { legend: { display: false }, tooltip: { callbacks: {
        label: function (item) { return amounts[item.dataIndex]; } } } },
        scales: { y: { beginAtZero: true } } }
    });
  }

  function health(h) {
    var list = el("dashboard-alerts");
    list.replaceChildren();
    var shown = h.alerts.length ? h.alerts : h.recent_alerts.slice(0, 3);
    if (!shown.length) { list.appendChild(text("li", "No alerts.", "ok")); }
    shown.forEach(function (a) {
      var when = a.active ? "since " + a.raised_at : "cleared " + a.cleared_at;
      list.appendChild(text("li", a.subject + ": " + a.reason + " (" + when + ")",
                            a.active ? "active" : ""));
    });
    var sends = {};
    h.delivery.forEach(function (d) { sends[d.channel] = d; });
    var body = el("dashboard-probes").tBodies[0];
    body.replaceChildren();
    h.probes.forEach(function (p) {
      var row = document.createElement("tr");
      var d = sends[p.channel];
      [p.channel, p.provider, p.status,
       p.latency_ms === null ? "—" : Math.round(p.latency_ms) + " ms",
       d ? d.failures + " failed of " + d.attempts : "—", p.detail].forEach(function (v, i) {
        row.appendChild(text("td", String(v), i === 2 ? p.status : ""));
      });
      body.appendChild(row);
    });
  }

  function show(data) {
    messages(data.messages);
    queue(data.queue);
    backlog(data.outbox);
    collection(data.collection);
    ageing(data.ageing);
    health(data.health);
  }

  function load() {
    var section = el("dashboard");
    var error = el("dashboard-error");
    return fetch(section.dataset.source, { credentials: "same-origin",
                                           headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("the dashboard answered " + response.status); }
        return response.json();
      })
      .then(function (data) {
        show(data);
        error.hidden = true;
        section.setAttribute("aria-busy", "false");
        section.dataset.generatedAt = data.generated_at;
      })
      .catch(function (problem) {
        error.textContent = "Could not load the dashboard: " + problem.message;
        error.hidden = false;
        section.setAttribute("aria-busy", "false");
      });
  }

  function start() {
    if (!el("dashboard")) { return; }
    load();
    window.setInterval(load, REFRESH_MS);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
