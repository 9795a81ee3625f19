// Reports the width its container gives it, so the kernel can draw a figure that fits.
// Zero (a hidden tab) is not reported; changes under 8 px are not either.
function render({ model, el }) {
  el.style.width = "100%";
  el.style.height = "0";
  let last = 0;
  const observer = new ResizeObserver(() => {
    const width = Math.floor(el.getBoundingClientRect().width);
    if (width > 0 && Math.abs(width - last) >= 8) {
      last = width;
      model.set("width", width);
      model.save_changes();
    }
  });
  observer.observe(el);
  return () => observer.disconnect();
}
export default { render };
