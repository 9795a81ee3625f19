// A PNG with a text alternative: ipywidgets' Image has no alt (and its tooltip never
// reaches the <img>). The picture goes to a blob URL, never into the page's HTML.
function render({ model, el }) {
  const img = document.createElement("img");
  let url = null;
  const update = () => {
    const value = model.get("value");
    if (url) URL.revokeObjectURL(url);
    url = null;
    const bytes = value && (value.byteLength !== undefined ? value : value.buffer);
    if (bytes && bytes.byteLength) {
      url = URL.createObjectURL(new Blob([bytes], { type: "image/png" }));
      img.src = url;
    } else {
      img.removeAttribute("src");
    }
    img.alt = model.get("alt");
    img.className = (model.get("_dom_classes") || []).join(" ");
    const width = model.get("width");
    if (width) img.setAttribute("width", width);
    else img.removeAttribute("width");
    img.style.maxWidth = "100%";
    img.style.height = "auto";
    img.style.width = model.get("fill") ? "100%" : "";
  };
  model.on("change:value change:alt change:width change:fill change:_dom_classes", update);
  update();
  el.appendChild(img);
  return () => url && URL.revokeObjectURL(url);
}
export default { render };
