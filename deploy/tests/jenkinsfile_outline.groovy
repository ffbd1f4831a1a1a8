// groovy jenkinsfile_outline.groovy <Jenkinsfile>: prints the pipeline's outline as JSON.
// Groovy's own compiler parses the file (a syntax error fails here, as it would in Jenkins); running it
// against a recorder that stands in for the declarative DSL turns every block and step (pipeline,
// stage, steps, when, input, withCredentials, sh, ...) into {"call": name, "args": [...], "body": [...]}.
// An assignment (environment { X = 'y' }) becomes {"call": "=", "args": ["X", "y"]}.
// A call to a method the Jenkinsfile defines (def deployTo(String environment) after pipeline { }) is run
// with its arguments, as Jenkins would: {"call": "deployTo", "args": ["dev"], "body": [what it did]}.
import groovy.json.JsonOutput

class Recorder {
    static Script jenkinsfile
    // Where the helpers' own calls (withCredentials in deployTo's body) go: the recorder of the call site.
    static Recorder current = new Recorder()

    List calls = []

    static List recording(Closure action) {
        def outer = current
        current = new Recorder()
        try {
            action.call(current)
            return current.calls
        } finally {
            current = outer
        }
    }

    static boolean isHelper(String name, Object[] args) {
        jenkinsfile.metaClass.respondsTo(jenkinsfile, name, args)
            .any { it.declaringClass.theClass == jenkinsfile.class }
    }

    def methodMissing(String name, Object argsObject) {
        Object[] arguments = argsObject as Object[]
        def call = [call: name, args: [], body: []]
        if (isHelper(name, arguments)) {
            call.args = arguments.collect { plain(it) }
            call.body = recording { jenkinsfile.invokeMethod(name, arguments) }
        } else {
            arguments.each { arg ->
                if (arg instanceof Closure) {
                    call.body = recording { Recorder inner ->
                        Closure body = arg.rehydrate(inner, inner, inner)
                        body.resolveStrategy = Closure.DELEGATE_ONLY
                        body.call()
                    }
                } else {
                    call.args << plain(arg)
                }
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
Recorder.jenkinsfile = script
def recorder = Recorder.current
script.metaClass.methodMissing = { String name, Object a -> Recorder.current.methodMissing(name, a) }
script.metaClass.propertyMissing = { String name -> Recorder.current.propertyMissing(name) }
script.run()
println JsonOutput.toJson(recorder.calls)
