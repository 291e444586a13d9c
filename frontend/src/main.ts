import "@/app/styles.css";
import { startApp } from "@/app/app";

startApp(document.getElementById("app")!);
