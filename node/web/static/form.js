// The incident and response forms: narrow the DISARM lists by id or name, show what
// is picked, and highlight who will see the incident for the chosen TLP.
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

// A multiple select with a search box above it and the picks shown as chips below:
// the DISARM techniques of the incident form, the countermeasures of the response form.
function setUpPicker(filterId, selectId, pickedId) {
  const filter = document.getElementById(filterId);
  const select = document.querySelector("select#" + selectId);
  const picked = document.getElementById(pickedId);
  if (!filter || !select) return;
  const showPicked = () => {
    const remove = (option) => {
      option.selected = false;
      showPicked();
    };
    picked.replaceChildren(...Array.from(select.selectedOptions).map((o) => pickedChip(o, remove, picked.dataset.remove || "Remove")));
  };
  // A plain click toggles one option and keeps the others: no Ctrl-click needed.
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
    for (const option of select.options) {
      const group = option.parentElement.tagName === "OPTGROUP" ? option.parentElement.label : "";
      const text = (option.textContent + " " + group).toLowerCase();
      option.hidden = !(option.selected || words.every((w) => text.includes(w)));
    }
    for (const group of select.querySelectorAll("optgroup")) {
      group.hidden = !Array.from(group.querySelectorAll("option")).some((o) => !o.hidden);
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
  setUpPicker("disarm-filter", "disarm", "disarm-picked");
  setUpPicker("countermeasures-filter", "countermeasures", "countermeasures-picked");
  setUpReach();
  focusFirstError();
});
