// A labelled native range input over a list of options: the keyboard (arrows, Home, End,
// Page Up/Down) and screen readers (its <label>, aria-valuetext) work as for any input.
let counter = 0;
function render({ model, el }) {
  const id = `hi-version-slider-${++counter}`;
  const box = document.createElement("div");
  box.className = "hi-version-slider";
  const label = document.createElement("label");
  label.htmlFor = id;
  const input = document.createElement("input");
  input.type = "range";
  input.id = id;
  input.min = "0";
  input.step = "1";
  const output = document.createElement("output");
  output.htmlFor = id;
  const options = () => model.get("options") || [];
  const update = () => {
    const items = options();
    const index = Math.max(0, items.findIndex((item) => item[1] === model.get("value")));
    label.textContent = model.get("description");
    input.max = String(Math.max(0, items.length - 1));
    input.value = String(index);
    input.disabled = model.get("disabled") || items.length === 0;
    const text = items.length ? String(items[index][0]) : "";
    input.setAttribute("aria-valuetext", `${model.get("description")} ${text}`.trim());
    output.textContent = text;
  };
  // "input" moves the shown value; "change" (release, or each key press) sends it.
  input.addEventListener("input", () => {
    const item = options()[Number(input.value)];
    if (item) output.textContent = String(item[0]);
  });
  input.addEventListener("change", () => {
    const item = options()[Number(input.value)];
    if (item) {
      model.set("value", item[1]);
      model.save_changes();
    }
  });
  model.on("change:options change:value change:disabled change:description", update);
  update();
  box.append(label, input, output);
  el.appendChild(box);
}
export default { render };
