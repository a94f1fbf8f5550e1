<?php
// application/config/ybb_export.php, the seed's "Basic Setup" step 1. Only api_url differs:
// it comes from YBB_API_URL so that the tests can point it at their server.
$config['ybb_export'] = array(
    'api_url' => getenv('YBB_API_URL') ?: 'http://localhost:5000',
    'timeout' => 300,
    'max_records' => 50000,
    'retry_attempts' => 3
);
