// Live list: each answered request arrives as a Server-Sent Event and is
// put at the top of the table, or updates its row when a handler ran.
(function () {
  "use strict";
  var body = document.getElementById("live");
  var status = document.getElementById("live-status");
  if (!body || !window.EventSource) { return; }
  function cell(tr, text, cls) {
    var td = document.createElement("td");
    if (cls) { td.className = cls; }
    td.textContent = text || "-";
    tr.appendChild(td);
    return td;
  }
  function render(d) {
    var tr = document.createElement("tr");
    tr.dataset.n = d.n;
    tr.className = (d.rejected ? "rejected" : d.outcome) + " fresh";
    cell(tr, d.at);
    var id = cell(tr, "", "id");
    var a = document.createElement("a");
    a.href = "delivery?n=" + encodeURIComponent(d.n);
    a.textContent = d.webhook_id || "-";
    id.textContent = "";
    id.appendChild(a);
    cell(tr, d.type);
    cell(tr, d.job_id, "id");
    cell(tr, d.scheme);
    var st = cell(tr, "");
    var span = document.createElement("span");
    span.className = "status s" + d.status;
    span.textContent = d.status;
    st.textContent = "";
    st.appendChild(span);
    var res = cell(tr, d.rejected ? "rejected: " + d.outcome : d.outcome);
    if (d.rejected) { res.className = "reason"; res.title = d.reason; }
    cell(tr, d.run, "run");
    return tr;
  }
  var es = new EventSource("events");
  es.onopen = function () { status.textContent = "live"; };
  es.onerror = function () { status.textContent = "reconnecting…"; };
  es.addEventListener("delivery", function (m) {
    var d = JSON.parse(m.data);
    var row = render(d);
    var old = body.querySelector('tr[data-n="' + d.n + '"]');
    if (old) { body.replaceChild(row, old); } else { body.insertBefore(row, body.firstChild); }
    while (body.rows.length > 200) { body.deleteRow(body.rows.length - 1); }
  });
})();
