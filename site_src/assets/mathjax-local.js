// MathJax 2.7 (the version nbconvert's template configures) as packaged by jupyter-server-mathjax, which ships only the
// STIX-Web web fonts. Loaded by the MathJax URL in mkdocs.yml (config=...,local/aims), so that a page loads no file
// the package lacks and the browser logs no error:
// - HTML-CSS output with the STIX-Web fonts, never an image font (as Jupyter's classic notebook does);
// - no fast preview and no hidden MathML copy (both ask for TeX fonts that are not shipped);
// - the blank font of MathJax's font detection is a local() font, not url('about:blank') (a CORS error in Chromium).
MathJax.Hub.Config({
  "HTML-CSS": {
    availableFonts: [],
    imageFont: null,
    preferredFont: null,
    webFont: "STIX-Web",
    styles: { "@font-face": { "font-family": "MathJax_Blank", src: "local('MathJax_Blank')" } },
  },
  "fast-preview": { disabled: true },
  AssistiveMML: { disabled: true },
  menuSettings: { CHTMLpreview: false, zoom: "None" },
});
MathJax.Ajax.loadComplete("[MathJax]/config/local/aims.js");
