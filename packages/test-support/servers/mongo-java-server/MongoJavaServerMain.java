// TEST INFRASTRUCTURE: mongo-java-server (in-memory MongoDB-wire server) on 127.0.0.1 and the port
// given, for the Mongo tests. Run as a single-file program: java -cp 'JARS/*' MongoJavaServerMain.java PORT
import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;
import java.util.List;

public class MongoJavaServerMain {
  public static void main(String[] args) throws Exception {
    MemoryBackend backend = new MemoryBackend();
    // It reports MongoDB 4.0 (wire version 7) at most, and the Node.js driver 6.x refuses servers
    // below wire version 8 (4.2); the OP_MSG commands the adapter sends are the same.
    backend.version(new MongoVersion() {
      public List<Integer> getVersionArray() { return List.of(4, 2, 0); }
      public int getWireVersion() { return 8; }
    });
    MongoServer server = new MongoServer(backend);
    server.bind("127.0.0.1", Integer.parseInt(args[0]));
    System.out.println("{\"port\":" + args[0] + "}");
    Thread.currentThread().join();
  }
}
