// Renders the OpenAPI document with Swagger UI (served from our own static files).
window.addEventListener("DOMContentLoaded", function () {
  var el = document.getElementById("swagger-ui");
  if (el && window.SwaggerUIBundle) {
    window.SwaggerUIBundle({ url: el.dataset.specUrl, dom_id: "#swagger-ui" });
  }
});
