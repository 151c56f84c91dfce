// Runs the component's <script> texts under real Groovy, with the part of Moqui's ExecutionContext they use.
// One long-lived process per test session: requests are JSON lines on stdin, answers JSON lines on stdout, each
// request on its own thread (Moqui runs scripts on many request threads at once).
//
// Request: {"id": 1, "script": "...", "context": {...}, "properties": {...}}; the answer: {"id": 1, "context": {...},
// "errors": [...]} or {"id": 1, "exception": "..."}. BigDecimal travels as {"$bigDecimal": "1.00"}, java.sql.Timestamp
// as {"$timestamp": epochMillis}.
import groovy.json.JsonBuilder
import groovy.json.JsonOutput
import groovy.json.JsonSlurperClassic
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.net.http.HttpTimeoutException
import java.sql.Timestamp
import java.time.Duration
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.Executors

// org.moqui.BaseException stands for every failure RestClient.call() throws (RestClient.java:350-351).
class BaseException extends RuntimeException {
    BaseException(String message, Throwable cause) { super(message, cause) }
}

// The builder API of org.moqui.util.RestClient (framework/src/main/java/org/moqui/util/RestClient.java at the
// commit in tests/reference/moqui-reference/SOURCES.md), over java.net.http instead of Jetty's client.
class RestClient {
    // What this stand-in sent (method, URI, header names), so tests can see where the api key went.
    List<Map> sent
    RestClient(List<Map> sent) { this.sent = sent }
    static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build()
    static final Set<String> BODY_METHODS = ["POST", "PUT", "PATCH"] as Set  // RestClient.BODY_METHODS
    String uriString = null
    String method = "GET"                       // RC:115 default GET
    String contentType = "application/json"     // RC:116
    String bodyText = null
    List<List<String>> headerList = []
    String username = null, password = null
    float initialWaitSeconds = 2.0F             // RC:124-125: no retry unless asked
    int maxRetries = 0
    int timeoutSeconds = 30                     // RC:127

    RestClient uri(String location) { uriString = location; return this }
    RestClient method(String method) {         // RC:143-155: upper-cased, must be a known method
        if (!method) { this.method = "GET"; return this }
        method = method.toUpperCase()
        if (!(method in ["GET", "PATCH", "PUT", "POST", "DELETE", "OPTIONS", "HEAD"]))
            throw new IllegalArgumentException("Method " + method + " not valid")
        this.method = method
        return this
    }
    RestClient contentType(String contentType) { this.contentType = contentType; return this }
    RestClient addHeader(String name, String value) { headerList.add([name, value]); return this }
    RestClient basicAuth(String username, String password) { this.username = username; this.password = password; return this }
    RestClient text(String bodyText) {         // RC:179-183
        if (!(method in BODY_METHODS)) throw new IllegalStateException("Cannot use body text with method " + method)
        this.bodyText = bodyText
        return this
    }
    RestClient jsonObject(Object body) {        // RC:186-205: JsonBuilder text of a Map, List or Object
        if (body == null) { bodyText = null; return this }
        if (body instanceof CharSequence) return text(body.toString())
        JsonBuilder builder = new JsonBuilder()
        if (body instanceof Map) builder.call((Map) body) else if (body instanceof List) builder.call((List) body) else builder.call(body)
        return text(builder.toString())
    }
    RestClient retry(float initialWaitSeconds, int maxRetries) { this.initialWaitSeconds = initialWaitSeconds; this.maxRetries = maxRetries; return this }
    RestClient timeout(int seconds) { this.timeoutSeconds = seconds; return this }

    RestResponse call() {                       // RC:293-324: retries only on 429
        float wait = initialWaitSeconds ?: 1
        RestResponse response = null
        for (int i = 0; i <= maxRetries; i++) {
            response = callInternal()
            if (response.statusCode == 429 && i < maxRetries) { Thread.sleep(Math.round(wait * 1000)); wait *= initialWaitSeconds }
            else break
        }
        return response
    }
    protected RestResponse callInternal() {     // RC:325-355: every failure wrapped in BaseException
        if (!uriString) throw new IllegalStateException("No URI set in RestClient")
        try {
            if (timeoutSeconds < 2) timeoutSeconds = 2
            HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(uriString)).timeout(Duration.ofSeconds(timeoutSeconds))
            for (List<String> header in headerList) request.header(header[0], header[1])
            if (username) request.header("Authorization", "Basic " + Base64.encoder.encodeToString((username + ":" + password).bytes))
            request.header("Accept", contentType)   // RC:385
            HttpRequest.BodyPublisher body = HttpRequest.BodyPublishers.noBody()
            if (bodyText) { request.header("Content-Type", contentType + ";charset=UTF-8"); body = HttpRequest.BodyPublishers.ofString(bodyText) }
            request.method(method, body)
            sent.add([method: method, uri: uriString, headers: request.build().headers().map().keySet().sort()])
            HttpResponse<byte[]> response = HTTP.send(request.build(), HttpResponse.BodyHandlers.ofByteArray())
            return new RestResponse(this, response.statusCode(), response.body())
        } catch (Exception e) {
            throw new BaseException("Error calling HTTP request to " + uriString, e)
        }
    }
}

class RestResponse {                            // RestClient.RestResponse (RC:401-470)
    RestClient client
    int statusCode
    byte[] bytes
    RestResponse(RestClient client, int statusCode, byte[] bytes) { this.client = client; this.statusCode = statusCode; this.bytes = bytes }
    int getStatusCode() { return statusCode }
    String text() { return new String(bytes, "UTF-8") }
    Object jsonObject() {
        try { return new JsonSlurperClassic().parseText(text()) }
        catch (Throwable t) { throw new BaseException("Error parsing JSON response from request to " + client.uriString, t) }
    }
    RestResponse checkError() {
        if (statusCode < 200 || statusCode >= 300) throw new RuntimeException("Error " + statusCode + " in response to " + client.method + " to " + client.uriString)
        return this
    }
}

class ServiceStandIn {                          // ServiceFacadeImpl.rest(): a new RestClient per call
    List<Map> sent = Collections.synchronizedList([])
    RestClient rest() { return new RestClient(sent) }
}
class UserStandIn { Timestamp getNowTimestamp() { return new Timestamp(System.currentTimeMillis()) } }
class MessageStandIn {                                                       // MessageFacade: addError, hasError
    List<String> errors = []
    void addError(String message) { errors.add(message) }
    boolean hasError() { return !errors.isEmpty() }
}
class ExecutionContextStandIn {
    ServiceStandIn service = new ServiceStandIn()
    UserStandIn user = new UserStandIn()
    MessageStandIn message = new MessageStandIn()
}

Object decode(Object value) {
    if (value instanceof Map) {
        if (value.containsKey('$bigDecimal')) return new BigDecimal((String) value['$bigDecimal'])
        if (value.containsKey('$timestamp')) return new Timestamp(((Number) value['$timestamp']).longValue())
        Map result = [:]
        value.each { k, v -> result[k] = decode(v) }
        return result
    }
    if (value instanceof List) return value.collect { decode(it) }
    return value
}
Object encode(Object value) {
    if (value instanceof BigDecimal) return ['$bigDecimal': value.toPlainString()]
    if (value instanceof Timestamp) return ['$timestamp': value.time]
    if (value instanceof Map) { Map result = [:]; value.each { k, v -> result[k.toString()] = encode(v) }; return result }
    if (value instanceof List) return value.collect { encode(it) }
    if (value == null || value instanceof String || value instanceof Number || value instanceof Boolean) return value
    return value.toString()
}

GroovyShell shell = new GroovyShell()
Map<String, Class> compiled = new ConcurrentHashMap<>()
def executor = Executors.newFixedThreadPool(8)
def out = new PrintStream(System.out, true, "UTF-8")
def reader = new BufferedReader(new InputStreamReader(System.in, "UTF-8"))
String line
while ((line = reader.readLine()) != null) {
    Map request = (Map) new JsonSlurperClassic().parseText(line)
    executor.submit {
        Map answer = [id: request.id]
        try {
            synchronized (System) { ((Map) request.get("properties") ?: [:]).each { k, v -> System.setProperty((String) k, (String) v) } }
            Class scriptClass = compiled.computeIfAbsent((String) request.script) { text -> shell.classLoader.parseClass(text) }
            ExecutionContextStandIn ec = new ExecutionContextStandIn()
            Binding binding = new Binding(new HashMap((Map) decode(request.context)))
            binding.setVariable("ec", ec)
            Script script = (Script) scriptClass.getDeclaredConstructor().newInstance()
            script.binding = binding
            script.run()
            Map variables = new HashMap(binding.variables)
            variables.remove("ec")
            answer.context = encode(variables)
            answer.errors = ec.message.errors
            answer.sent = ec.service.sent
        } catch (Throwable t) {
            answer.exception = t.toString()
        }
        String text = JsonOutput.toJson(answer)
        synchronized (out) { out.println(text) }
    }
}
executor.shutdown()
