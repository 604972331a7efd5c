// The dashboard's only script: sortable tables, and a refresh of the page's content in place.
"use strict";

const sortState = {}; // table id -> [column index, direction], kept across refreshes

function cellValue(row, index, kind) {
  const cell = row.cells[index];
  const raw = cell ? (cell.dataset.value ?? cell.textContent.trim()) : "";
  if (kind === "number") {
    const number = parseFloat(raw);
    return Number.isNaN(number) ? -Infinity : number;
  }
  return raw.toLowerCase();
}

function sortTable(table, index, direction) {
  const header = table.tHead.rows[0].cells[index];
  const kind = header.dataset.sort;
  const body = table.tBodies[0];
  const rows = Array.from(body.rows).filter((row) => row.cells.length > 1);
  rows.sort((a, b) => {
    const x = cellValue(a, index, kind);
    const y = cellValue(b, index, kind);
    return (x < y ? -1 : x > y ? 1 : 0) * direction;
  });
  rows.forEach((row) => body.appendChild(row));
  for (const th of table.tHead.rows[0].cells) th.classList.remove("sorted-asc", "sorted-desc");
  header.classList.add(direction > 0 ? "sorted-asc" : "sorted-desc");
  if (table.id) sortState[table.id] = [index, direction];
}

function bindSorting(root) {
  for (const table of root.querySelectorAll("table.sortable")) {
    const headers = table.tHead ? table.tHead.rows[0].cells : [];
    Array.from(headers).forEach((th, index) => {
      if (!th.dataset.sort) return;
      th.addEventListener("click", () => {
        const [current, direction] = sortState[table.id] || [-1, -1];
        sortTable(table, index, current === index ? -direction : 1);
      });
    });
    const saved = sortState[table.id];
    if (saved) sortTable(table, saved[0], saved[1]);
  }
}

function editing() {
  const active = document.activeElement;
  if (active && active.form) return true;
  return Array.from(document.querySelectorAll("main input:not([type=hidden])")).some((input) => input.value !== "");
}

async function refresh() {
  if (document.visibilityState !== "visible" || editing()) return;
  try {
    const response = await fetch(window.location.href, { credentials: "same-origin", cache: "no-store" });
    if (response.redirected || !response.ok) {
      if (response.redirected) window.location.reload(); // the session ended: show the login page
      return;
    }
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = page.getElementById("content");
    const rendered = page.getElementById("rendered");
    if (!fresh) return;
    document.getElementById("content").replaceWith(fresh);
    if (rendered) document.getElementById("rendered").textContent = rendered.textContent;
    bindSorting(fresh);
  } catch (error) {
    // The service is unreachable for now: keep what is shown and try again at the next tick.
  }
}

document.addEventListener("DOMContentLoaded", () => {
  bindSorting(document);
  const seconds = parseFloat(document.body.dataset.refresh || "0");
  if (seconds > 0 && document.querySelector("header nav")) window.setInterval(refresh, seconds * 1000);
});
