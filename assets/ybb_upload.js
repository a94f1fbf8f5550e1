// File uploads of the Export page: the chosen or dropped file is sent as the raw body of a
// POST to the upload route (components/upload_route.py) with a progress bar, and the route's
// answer (the parsed data's summary, or what was wrong) goes into the page's upload request
// store, where the load callback turns it into the summary and an alert. dcc.Upload stays as
// the file chooser only: these listeners run in the capture phase on window, before React's,
// and keep it from reading the file into a base64 data URL.
(function () {
    var REQUEST = "data-upload-request";

    function dataCard(node) {
        return node && node.closest ? node.closest("#data-card") : null;
    }

    function showProgress(fraction, text) {
        var wrap = document.getElementById("data-upload-progress");
        if (!wrap) {
            return;
        }
        if (fraction === null) {
            wrap.classList.add("d-none");
            return;
        }
        wrap.classList.remove("d-none");
        var bar = wrap.querySelector(".progress-bar");
        var percent = Math.round(fraction * 100);
        bar.style.width = percent + "%";
        bar.setAttribute("aria-valuenow", String(percent));
        document.getElementById("data-upload-progress-text").textContent = text;
    }

    function megabytes(size) {
        return (size / 1048576).toFixed(1) + " MB";
    }

    function answer(xhr) {
        var body = null;
        try {
            body = JSON.parse(xhr.responseText);
        } catch (e) {
            body = null;
        }
        if (xhr.status === 200 && body && body.status === "success") {
            return {summary: body.data};
        }
        if (body && body.status === "error") {
            return {error: {message: body.message, error_code: body.error_code,
                details: body.details || {}}};
        }
        return {error: {error_code: "UPLOAD_REFUSED", message: "The server refused the upload " +
            "(HTTP " + xhr.status + "). Try again; if it keeps happening, tell the administrator."}};
    }

    function send(file) {
        var config = document.getElementById("data-upload-config");
        if (!config) {
            return;
        }
        var ns = window.dash_clientside;
        var limit = Number(config.getAttribute("data-limit") || 0);
        var request = {filename: file.name, at: Date.now()};
        ns.set_props("data-tabs", {active_tab: "upload"});  // where the progress bar is
        if (limit && file.size > limit) {  // refused before sending a byte
            request.too_large = file.size;
            ns.set_props(REQUEST, {data: request});
            return;
        }
        var xhr = new XMLHttpRequest();
        xhr.open("POST", config.getAttribute("data-url"));
        xhr.setRequestHeader("Content-Type", "application/octet-stream");
        xhr.setRequestHeader("X-YBB-Upload", "1");
        xhr.setRequestHeader("X-YBB-Filename", encodeURIComponent(file.name));
        showProgress(0, "Uploading " + file.name + " (" + megabytes(file.size) + ")…");
        xhr.upload.onprogress = function (event) {
            if (event.lengthComputable && event.total) {
                showProgress(event.loaded / event.total, "Uploading " + file.name + ": " +
                    megabytes(event.loaded) + " of " + megabytes(event.total));
            }
        };
        xhr.upload.onload = function () {
            showProgress(1, "Reading " + file.name + " on the server…");
        };
        xhr.onload = function () {
            var login = xhr.status === 401 && xhr.getResponseHeader("X-YBB-Login");
            if (login && login.charAt(0) === "/" && login.charAt(1) !== "/") {
                var here = window.location.pathname + window.location.search;
                window.location.assign(login + "?next=" + encodeURIComponent(here));
                return;
            }
            showProgress(null);
            ns.set_props(REQUEST, {data: Object.assign(request, answer(xhr))});
        };
        xhr.onerror = function () {
            showProgress(null);
            request.error = {error_code: "NETWORK", message: "The upload of " + file.name +
                " was interrupted (the connection failed). Try again."};
            ns.set_props(REQUEST, {data: request});
        };
        xhr.send(file);
    }

    window.addEventListener("change", function (event) {
        var input = event.target;
        if (!input || input.type !== "file" || !input.closest || !input.closest("#data-upload")) {
            return;
        }
        event.stopImmediatePropagation();
        if (input.files && input.files.length) {
            send(input.files[0]);
        }
        input.value = "";  // choosing the same file again is a new upload
    }, true);

    function carriesFiles(event) {
        var types = event.dataTransfer ? event.dataTransfer.types : null;
        return !!types && Array.prototype.indexOf.call(types, "Files") >= 0;
    }

    // Drag and drop anywhere on the data card, not only on the dashed box.
    ["dragenter", "dragover"].forEach(function (type) {
        window.addEventListener(type, function (event) {
            var card = dataCard(event.target);
            if (!card || !carriesFiles(event)) {
                return;
            }
            event.preventDefault();
            event.stopImmediatePropagation();
            event.dataTransfer.dropEffect = "copy";
            card.classList.add("drop-active");
        }, true);
    });
    window.addEventListener("dragleave", function (event) {
        var card = dataCard(event.target);
        if (card && !dataCard(event.relatedTarget)) {
            card.classList.remove("drop-active");
        }
    }, true);
    window.addEventListener("drop", function (event) {
        var card = dataCard(event.target);
        if (!card) {
            return;
        }
        event.preventDefault();  // else the browser opens the file instead of the page
        event.stopImmediatePropagation();
        card.classList.remove("drop-active");
        var files = event.dataTransfer ? event.dataTransfer.files : null;
        if (files && files.length) {
            send(files[0]);
        }
    }, true);
})();
