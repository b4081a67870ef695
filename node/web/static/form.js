// The incident form: narrow the DISARM list by id or name, show what is picked,
// and highlight who will see the incident for the chosen TLP.
"use strict";

function setUpDisarmFilter() {
  const filter = document.getElementById("disarm-filter");
  const select = document.querySelector("select#disarm");
  const picked = document.getElementById("disarm-picked");
  if (!filter || !select) return;
  const showPicked = () => {
    const chosen = Array.from(select.selectedOptions).map((o) => o.textContent);
    picked.textContent = chosen.length ? "Picked: " + chosen.join("; ") : "";
  };
  filter.addEventListener("input", () => {
    const words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
    for (const group of select.querySelectorAll("optgroup")) {
      let any = false;
      for (const option of group.querySelectorAll("option")) {
        const text = (option.textContent + " " + group.label).toLowerCase();
        const match = option.selected || words.every((w) => text.includes(w));
        option.hidden = !match;
        any = any || match;
      }
      group.hidden = !any;
    }
  });
  select.addEventListener("change", showPicked);
  showPicked();
}

function setUpReach() {
  const tlp = document.querySelector("select#tlp");
  if (!tlp) return;
  const rows = document.querySelectorAll(".reach-row");
  const mark = () => rows.forEach((row) => row.classList.toggle("current", row.dataset.tlp === tlp.value));
  tlp.addEventListener("change", mark);
  mark();
}

function focusFirstError() {
  const first = document.querySelector('.has-error input, .has-error textarea, .has-error select');
  if (first) first.focus();
}

document.addEventListener("DOMContentLoaded", () => {
  setUpDisarmFilter();
  setUpReach();
  focusFirstError();
});
