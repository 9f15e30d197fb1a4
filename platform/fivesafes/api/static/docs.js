// Starts Swagger UI on /docs. A file, not an inline script, so the page keeps a
// Content-Security-Policy of script-src 'self'. The schema's URL comes from the page.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-openapi-url"),
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    // Never send the schema to swagger.io's online validator: nothing leaves the server.
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis]
  });
}());
