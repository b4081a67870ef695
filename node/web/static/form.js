// The incident form: narrow the DISARM list by id or name, show what is picked,
// and highlight who will see the incident for the chosen TLP.
"use strict";

// "Remove T0023 …" in the page's language: the template puts the words in data-remove.
function pickedChip(option, onRemove, removeWord) {
  const chip = document.createElement("button");
  chip.type = "button";
  chip.className = "chip";
  chip.dataset.value = option.value;
  chip.textContent = option.textContent + " \u00d7";
  chip.setAttribute("aria-label", removeWord + " " + option.textContent);
  chip.addEventListener("click", () => onRemove(option));
  return chip;
}

function setUpDisarmFilter() {
  const filter = document.getElementById("disarm-filter");
  const select = document.querySelector("select#disarm");
  const picked = document.getElementById("disarm-picked");
  if (!filter || !select) return;
  const showPicked = () => {
    const remove = (option) => {
      option.selected = false;
      showPicked();
    };
    picked.replaceChildren(...Array.from(select.selectedOptions).map((o) => pickedChip(o, remove, picked.dataset.remove || "Remove")));
  };
  // A plain click toggles one technique and keeps the others: no Ctrl-click needed.
  select.addEventListener("mousedown", (event) => {
    const option = event.target.closest("option");
    if (!option) return;
    event.preventDefault();
    option.selected = !option.selected;
    select.focus();
    showPicked();
  });
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
