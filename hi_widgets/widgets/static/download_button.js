// A button that asks the kernel for a file and saves it: the file's bytes come in one
// custom message and are never kept in widget state (so never saved into the notebook).
function render({ model, el }) {
  const button = document.createElement("button");
  button.className = "jupyter-button widget-button mod-primary hi-download-button";
  // Sized to its label (never cut off); visibly off when there is nothing to download.
  button.style.width = "auto";
  button.style.minWidth = "fit-content";
  const update = () => {
    button.textContent = model.get("description");
    button.disabled = model.get("disabled");
    button.style.opacity = button.disabled ? "0.45" : "";
    button.style.cursor = button.disabled ? "not-allowed" : "";
    button.title = model.get("filename");
  };
  update();
  model.on("change:description", update);
  model.on("change:disabled", update);
  model.on("change:filename", update);
  button.addEventListener("click", () => model.send({ event: "download" }));
  model.on("msg:custom", (msg, buffers) => {
    if (!msg || msg.event !== "file") return;
    const blob = new Blob(buffers, { type: msg.mime || "application/octet-stream" });
    const url = URL.createObjectURL(blob);
    const link = document.createElement("a");
    link.href = url;
    link.download = msg.filename;
    link.className = "hi-download-link";
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  });
  el.appendChild(button);
}
export default { render };
