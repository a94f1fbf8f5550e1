// Clientside callbacks of the YBB Export Studio UI (no network, no secrets).
window.dash_clientside = Object.assign({}, window.dash_clientside, {
    ybb: {
        // dcc.Upload contents -> the request sent to the server; files above the limit are
        // refused here so they never travel. Returning null contents lets the same file be
        // chosen again.
        uploadRequest: function (contents, filename, limit) {
            if (!contents) {
                return [window.dash_clientside.no_update, window.dash_clientside.no_update];
            }
            var comma = contents.indexOf(",");
            var b64 = comma >= 0 ? contents.length - comma - 1 : contents.length;
            var size = Math.floor(b64 * 3 / 4);
            if (limit && size > limit) {
                return [{filename: filename, too_large: size, at: Date.now()}, null];
            }
            return [{filename: filename, contents: contents, at: Date.now()}, null];
        }
    }
});
