// groovy jenkinsfile_outline.groovy <Jenkinsfile>: prints the pipeline's outline as JSON.
// Groovy's own compiler parses the file (a syntax error fails here, as it would in Jenkins); running it
// against a recorder that stands in for the declarative DSL turns every block and step (pipeline,
// stage, steps, when, input, withCredentials, sh, ...) into {"call": name, "args": [...], "body": [...]}.
// An assignment (environment { X = 'y' }) becomes {"call": "=", "args": ["X", "y"]}.
import groovy.json.JsonOutput

class Recorder {
    List calls = []

    def methodMissing(String name, Object argsObject) {
        def call = [call: name, args: [], body: []]
        (argsObject as Object[]).each { arg ->
            if (arg instanceof Closure) {
                def inner = new Recorder()
                Closure body = arg.rehydrate(inner, inner, inner)
                body.resolveStrategy = Closure.DELEGATE_ONLY
                body.call()
                call.body = inner.calls
            } else {
                call.args << plain(arg)
            }
        }
        // A call used as an argument (usernamePassword(...) inside withCredentials) is not a step.
        calls.removeAll { recorded -> call.args.flatten().any { it.is(recorded) } }
        calls << call
        return call
    }

    def propertyMissing(String name) { return "\${${name}}" }

    def propertyMissing(String name, Object value) { calls << [call: '=', args: [name, plain(value)], body: []] }

    static Object plain(Object value) {
        if (value instanceof Map && value.containsKey('call')) return value
        if (value instanceof Map) return value.collectEntries { k, v -> [(k.toString()): plain(v)] }
        if (value instanceof List) return value.collect { plain(it) }
        if (value instanceof Number || value instanceof Boolean || value == null) return value
        return value.toString()
    }
}

def script = new GroovyShell().parse(new File(args[0]))
def recorder = new Recorder()
script.metaClass.methodMissing = { String name, Object a -> recorder.methodMissing(name, a) }
script.metaClass.propertyMissing = { String name -> recorder.propertyMissing(name) }
script.run()
println JsonOutput.toJson(recorder.calls)
