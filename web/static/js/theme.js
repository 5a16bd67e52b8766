// Follow the system's light or dark setting through Bootstrap 5.3's data-bs-theme.
// A classic script loaded in <head> (not a module, not deferred) so the theme is set
// before the first paint and a dark system never flashes a white page.
(() => {
  const dark = window.matchMedia("(prefers-color-scheme: dark)");
  const apply = () =>
    document.documentElement.setAttribute("data-bs-theme", dark.matches ? "dark" : "light");
  apply();
  dark.addEventListener("change", apply);
})();
