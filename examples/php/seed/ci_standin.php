<?php
/**
 * The few CodeIgniter 3 pieces the seed's snippets use (get_instance, $this->load->config,
 * $this->config->item, $this->session, $this->output, redirect, show_404, log_message), so that
 * the seed's code runs unchanged under php-cli. Not a framework: what each piece did is recorded
 * in CI::$events and printed as JSON by run.php, which the tests read.
 *
 * Strict on purpose: any PHP notice or warning (reading a field the API did not send, a wrong
 * type used as an array ...) becomes an exception and fails the run.
 */
set_error_handler(function ($severity, $message, $file, $line) {
    throw new ErrorException($message, 0, $severity, $file, $line);
});

/** redirect() and show_404() end the request in CodeIgniter (they exit): here they throw. */
class RequestEnded extends RuntimeException
{
}

class CI
{
    /** @var array what the controller did: redirects, flash messages, logs, output */
    public static $events = [];
    /** @var CI_Controller|null */
    public static $instance = null;

    public static function record($kind, $value)
    {
        self::$events[] = [$kind, $value];
    }
}

class CI_Loader
{
    private $config;

    public function __construct($config)
    {
        $this->config = $config;
    }

    /** application/config/<name>.php, as CodeIgniter loads it */
    public function config($name)
    {
        $config = [];
        require __DIR__ . "/config/{$name}.php";
        foreach ($config as $key => $value) {
            $this->config->items[$key] = $value;
        }
    }
}

class CI_Config
{
    public $items = [];

    public function item($name)
    {
        return isset($this->items[$name]) ? $this->items[$name] : null;
    }
}

class CI_Session
{
    public function set_flashdata($key, $value)
    {
        CI::record('flashdata', [$key => $value]);
    }
}

class CI_Output
{
    public function set_content_type($type)
    {
        CI::record('content_type', $type);
        return $this;
    }

    public function set_output($text)
    {
        CI::record('output', $text);
        return $this;
    }
}

class CI_Controller
{
    public $load;
    public $config;
    public $session;
    public $output;

    public function __construct()
    {
        $this->config = new CI_Config();
        $this->load = new CI_Loader($this->config);
        $this->session = new CI_Session();
        $this->output = new CI_Output();
        CI::$instance = $this;
    }
}

function &get_instance()
{
    return CI::$instance;
}

function redirect($uri)
{
    CI::record('redirect', $uri);
    throw new RequestEnded("redirect {$uri}");
}

function show_404()
{
    CI::record('show_404', true);
    throw new RequestEnded('404');
}

function log_message($level, $message)
{
    CI::record('log', [$level, $message]);
}
